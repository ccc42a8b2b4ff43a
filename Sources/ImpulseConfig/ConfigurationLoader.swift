import Foundation
import SMTPProtocol

/// Turns a parsed scope tree into an `ImpulseConfiguration`, checking every option's name, scope,
/// type and range. Unknown names are errors; Momentum options Impulse does not implement yet are
/// warnings ("not supported yet"), except those whose absence would weaken security, which are
/// errors.
public struct ConfigurationLoader {
    public init() {}

    /// Momentum options that must not be silently dropped: ignoring them would accept mail or
    /// clients the operator meant to refuse.
    static let refusedWhenUnsupported: Set<String> = [
        "always_deny", "tls_verify_mode", "tls_client_ca", "relay_for_sending_domains",
        "require_ehlo", "inbound_throttle_messages", "service_sessions", "prohibited_hosts",
        // Ignored, these would leave the server with groups it should not have, outside its
        // chroot, or serving HTTP without its password.
        "supplemental_groups", "chroot", "http_basic_auth"
    ]

    static let globalOptions: Set<String> = [
        "mta_sts_policy_store", "mta_sts_https_port", "mta_sts_ca", "dnssec_trust_anchors", "dnssec_trust_anchor_file",
        "hostname", "spoolbase", "spool_mode", "force_fsync", "shutdown_timeout",
        "reception_memory_limit", "resolv_conf", "dns_nameservers", "user", "group", "siv_throttle_cache_size"
    ]
    static let listenOptions: Set<String> = ["enable", "listen_backlog", "implicit_tls"]
    static let moduleCommonOptions: Set<String> = ["enabled", "debug_level"]

    /// Reads, parses and validates a configuration file.
    public func load(path: String) throws(ConfigError) -> ImpulseConfiguration {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let root = try ConfigParser().parseFile(atPath: absolute)
        return try bind(root, sourcePath: absolute)
    }

    public func bind(_ root: ConfigScope, sourcePath: String) throws(ConfigError) -> ImpulseConfiguration {
        var binder = Binder(sourcePath: sourcePath)
        binder.bindGlobal(root)
        let errors = binder.diagnostics.filter { $0.severity == .error }
        guard errors.isEmpty, var configuration = binder.configuration else { throw ConfigError(binder.diagnostics) }
        configuration.query = ConfigQuery(root: root)
        return configuration
    }
}

/// The walk over the tree; collects every diagnostic instead of stopping at the first.
struct Binder {
    let sourcePath: String
    var diagnostics: [ConfigDiagnostic] = []
    var configuration: ImpulseConfiguration?

    init(sourcePath: String) { self.sourcePath = sourcePath }

    mutating func error(_ location: SourceLocation, _ message: String) {
        let diagnostic = ConfigDiagnostic(.error, location, message)
        if !diagnostics.contains(diagnostic) { diagnostics.append(diagnostic) }
    }

    mutating func warning(_ location: SourceLocation, _ message: String) {
        let diagnostic = ConfigDiagnostic(.warning, location, message)
        if !diagnostics.contains(diagnostic) { diagnostics.append(diagnostic) }
    }

    mutating func record(_ error: ConfigError) {
        for diagnostic in error.diagnostics where !diagnostics.contains(diagnostic) { diagnostics.append(diagnostic) }
    }

    /// `ecauth://NAME` needs a `Datasource "NAME"` scope (it may come later in the file).
    mutating func checkAuthDatasources(_ config: ImpulseConfiguration) {
        let names = Set(config.datasources.map(\.name))
        let policies = config.listeners.flatMap { [$0.policy] + $0.peers.map(\.policy) }
        for backend in policies.flatMap({ $0.authBackends.values }) {
            if case .datasource(let name, _) = backend.source, !names.contains(name) {
                error(backend.location, "\(backend.uri): there is no Datasource \"\(name)\" scope")
            }
        }
    }

    /// Reports an option Impulse does not handle in this scope: unsupported, misplaced or unknown.
    mutating func reject(_ option: ConfigOption, in scope: ConfigScope) {
        if MomentumOptionCatalog.names.contains(option.name) || InboundPolicy.optionNames.contains(option.name)
            || ConfigurationLoader.globalOptions.contains(option.name)
            || ConfigurationLoader.listenOptions.contains(option.name)
        {
            if InboundPolicy.optionNames.contains(option.name)
                || ConfigurationLoader.globalOptions.contains(option.name)
                || ConfigurationLoader.listenOptions.contains(option.name)
            {
                error(option.location, "option '\(option.spelling)' is not valid in \(scope.displayName)")
            } else if ConfigurationLoader.refusedWhenUnsupported.contains(option.name) {
                error(
                    option.location,
                    """
                    option '\(option.spelling)' is not supported yet, and ignoring it would weaken security: \
                    remove it or wait for support
                    """
                )
            } else {
                warning(option.location, "option '\(option.spelling)' is not supported yet (ignored)")
            }
        } else {
            error(option.location, "unknown option '\(option.spelling)' in \(scope.displayName)")
        }
    }

    mutating func bindGlobal(_ root: ConfigScope) {
        let hostname = Self.systemHostname()
        var config = ImpulseConfiguration(
            sourcePath: sourcePath, hostname: hostname.isEmpty ? "localhost" : hostname,
            spoolbase: "/var/spool/ecelerity")
        var globalPolicy = InboundPolicy()
        for option in root.options {
            do {
                switch option.name {
                case "hostname": config.hostname = try OptionReader.scalar(option)
                case "spoolbase": config.spoolbase = try OptionReader.path(option)
                case "spool_mode": config.spoolMode = try OptionReader.octal(option)
                case "force_fsync":
                    // Impulse always fsyncs before 250; the option is read for compatibility only.
                    if try !OptionReader.bool(option) {
                        warning(
                            option.location,
                            """
                            '\(option.spelling) = false' has no effect: Impulse always fsyncs a message before \
                            answering 250
                            """
                        )
                    }
                case "shutdown_timeout": config.shutdownTimeout = try OptionReader.integer(option, in: 1...3600)
                case "reception_memory_limit":
                    config.receptionMemoryLimit = try OptionReader.integer(option, in: 65536...(1 << 40))
                case "resolv_conf": config.resolvConf = try OptionReader.path(option)
                case "mta_sts_policy_store": config.outbound.mtaSTSPolicyStore = try OptionReader.path(option)
                case "dnssec_trust_anchors": config.dnssecTrustAnchors = try OptionReader.list(option).map(\.0)
                case "dnssec_trust_anchor_file": config.dnssecTrustAnchorFile = try OptionReader.readablePath(option)
                case "mta_sts_https_port":
                    config.outbound.mtaSTSHTTPSPort = try OptionReader.integer(option, in: 1...65535)
                case "mta_sts_ca": config.outbound.mtaSTSCA = try OptionReader.readablePath(option)
                case "user": config.user = try OptionReader.scalar(option)
                case "group": config.group = try OptionReader.scalar(option)
                case "siv_throttle_cache_size":
                    config.namedThrottleCapacity = try OptionReader.integer(option, in: 1...1_000_000)
                case "signing_stats":
                    config.signingStats = try OptionReader.choice(
                        option, [("all", "all"), ("global", "global"), ("off", "off")])
                case "dns_nameservers":
                    config.dnsNameservers = try OptionReader.list(option).map { text, location throws(ConfigError) in
                        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
                        let validPort = parts.count == 1 || (Int(parts[1]).map { (1...65535).contains($0) } ?? false)
                        guard IPAddress(String(parts[0])) != nil, validPort else {
                            throw ConfigError(
                                location,
                                "'\(text)' in '\(option.spelling)' is not an IP address, optionally with @port")
                        }
                        return text
                    }
                case let name where InboundPolicy.optionNames.contains(name): try globalPolicy.apply(option)
                case let name where OutboundOptions.optionNames.contains(name): try config.outbound.global.apply(option)
                default: reject(option, in: root)
                }
            } catch { record(error) }
        }
        var listenerScopes: [ConfigScope] = []
        var scriptletScopes: [ConfigScope] = []
        for scope in root.scopes {
            switch scope.keyword {
            case "esmtp_listener": listenerScopes.append(scope)
            case "scriptlet": scriptletScopes.append(scope)
            case "opendkim": config.dkimSigning = bindOpenDKIM(scope, existing: config.dkimSigning)
            case "spf": config.spf = bindSPF(scope, existing: config.spf)
            case "dmarc": config.dmarc = bindDMARC(scope, existing: config.dmarc)
            case "ec_logger": bindLogger(scope, into: &config.logs)
            case "alerting", "delay_dsn": bindModuleOptionsOnly(scope)
            case "binding": bindBinding(scope, group: nil, into: &config.bindings, outbound: &config.outbound)
            case "domain": bindDomain(scope, into: &config.outbound.globalDomains)
            case "host": bindHost(scope, into: &config.outbound.globalHosts)
            case "bounce_logger": bindBounceLogger(scope, into: &config.logs)
            case "bounce_classifier_override": config.bounceClassifier = bindBounceClassifierOverride(scope)
            case "cluster":
                for option in scope.options {
                    do throws(ConfigError) {
                        switch option.name {
                        case "throttle_store":
                            let text = try OptionReader.scalar(option)
                            guard text.lowercased().hasPrefix("redis://"),
                                let address = NextHop(String(text.dropFirst("redis://".count))), !address.isUnixSocket
                            else {
                                throw ConfigError(
                                    option.value.location,
                                    "'\(option.spelling)' expects redis://host:port, found '\(text)'")
                            }
                            config.outbound.clusterThrottleStore = NextHop(
                                host: address.host, port: address.port ?? 6379)
                        default:
                            warning(
                                option.location,
                                "cluster option '\(option.spelling)' is not supported yet (ignored; docs/delivery.md)")
                        }
                    } catch { record(error) }
                }
                for child in scope.scopes {
                    warning(child.location, "scope '\(child.spelling)' in cluster is not supported yet (ignored)")
                }
            case "adaptive":
                for option in scope.options {
                    do {
                        switch option.name {
                        case "adaptivelog": try config.logs.setPath(\.adaptivelog, option)
                        case "enabled", "debug_level": _ = try OptionReader.scalar(option)
                        default:
                            warning(
                                option.location,
                                "adaptive option '\(option.spelling)' is not supported yet (ignored; docs/delivery.md)")
                        }
                    } catch { record(error) }
                }
                for child in scope.scopes {
                    error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
                }
            case "threadpool": bindThreadPool(scope, into: &config.threadPools)
            case "datasource": bindDatasource(scope, into: &config.datasources)
            case "http_listener": bindHTTPListener(scope, into: &config.httpListeners)
            case "control_listener":
                if config.control != nil {
                    error(scope.location, "a second Control_Listener (put every Listen in one)")
                }
                config.control = bindControlListener(scope)
            case "binding_group":
                guard let group = scope.instance, Self.validBindingName(group) else {
                    error(
                        scope.location,
                        "binding_group needs a name without spaces or colons: binding_group \"name\" { }")
                    continue
                }
                var groupScope = config.outbound.bindingGroups[group] ?? OutboundConfiguration.Scope()
                bindOutboundOptions(
                    scope, into: &groupScope.options,
                    excluded: OutboundOptions.onlyGlobalOrDomain.union(OutboundOptions.notInGroup),
                    hint: "only globally or in a domain scope")
                for child in scope.scopes {
                    if child.keyword == "binding" {
                        bindBinding(child, group: group, into: &config.bindings, outbound: &config.outbound)
                    } else if child.keyword == "domain" {
                        bindDomain(child, into: &groupScope.domains)
                    } else if child.keyword == "host" {
                        bindHost(child, into: &groupScope.hosts)
                    } else {
                        warning(
                            child.location,
                            """
                            scope '\(child.spelling)' in \(scope.displayName) is not supported yet (ignored with \
                            everything in it)
                            """
                        )
                    }
                }
                config.outbound.bindingGroups[group] = groupScope
            case "listen", "peer":
                error(scope.location, "'\(scope.spelling)' must be inside a listener scope such as ESMTP_Listener")
            case let keyword where MomentumOptionCatalog.scopes.contains(keyword):
                warning(
                    scope.location, "scope '\(scope.spelling)' is not supported yet (ignored with everything in it)")
            default:
                if scope.instance == nil && InboundPolicy.optionNames.contains(scope.keyword) {
                    error(
                        scope.location, "'\(scope.spelling)' is an option, not a scope: write \(scope.spelling) = value"
                    )
                } else {
                    warning(
                        scope.location,
                        """
                        module or scope '\(scope.spelling)' is not supported by Impulse yet (ignored with \
                        everything in it)
                        """
                    )
                }
            }
        }
        for scope in listenerScopes {
            config.listeners += bindListener(scope, global: globalPolicy)
        }
        if !scriptletScopes.isEmpty {
            config.scriptlet = bindScriptlet(scriptletScopes)
        }
        if config.listeners.isEmpty {
            error(
                root.location,
                """
                no ESMTP_Listener with a Listen stanza: Impulse would accept no mail (add ESMTP_Listener { Listen \
                \"127.0.0.1:25\" {} })
                """
            )
        }
        var seen: [ListenAddress: SourceLocation] = [:]
        for listener in config.listeners {
            if let first = seen[listener.address] {
                error(listener.location, "Listen \"\(listener.address)\" is already defined at \(first)")
            }
            seen[listener.address] = listener.location
        }
        if config.outbound.clusterThrottleStore == nil,
            let first = Self.firstOption(named: OutboundOptions.clusterOptionNames, in: root)
        {
            error(
                first.location,
                """
                '\(first.spelling)' needs a store every node shares: cluster { throttle_store = \
                "redis://host:port" }
                """)
        }
        checkAuthDatasources(config)
        config.warnings = diagnostics.filter { $0.severity == .warning }
        checkAuthservIDs(config)
        configuration = config
    }

    /// gethostname(2), without the resolver look-ups Foundation's hostName may do.
    static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    mutating func bindListener(_ scope: ConfigScope, global: InboundPolicy) -> [ListenerConfiguration] {
        if let instance = scope.instance {
            warning(scope.location, "ESMTP_Listener takes no instance name; \"\(instance)\" is ignored")
        }
        var listenerPolicy = global
        var listenerDefaults: [ConfigOption] = []
        for option in scope.options {
            if InboundPolicy.optionNames.contains(option.name) {
                do { try listenerPolicy.apply(option) } catch { record(error) }
            } else if ConfigurationLoader.listenOptions.contains(option.name) {
                listenerDefaults.append(option)
            } else {
                reject(option, in: scope)
            }
        }
        var listenerPeers: [(ConfigScope, Int)] = []
        var listens: [ConfigScope] = []
        for child in scope.scopes {
            switch child.keyword {
            case "listen": listens.append(child)
            case "peer": listenerPeers.append((child, 0))
            default:
                error(
                    child.location,
                    "'\(child.spelling)' is not valid inside \(scope.displayName) (expected Listen or Peer)")
            }
        }
        if listens.isEmpty {
            warning(scope.location, "\(scope.displayName) has no Listen stanza and accepts no connections")
        }
        var result: [ListenerConfiguration] = []
        for listen in listens {
            guard let instance = listen.instance else {
                error(listen.location, "Listen needs an address: Listen \"127.0.0.1:25\" { }")
                continue
            }
            let address: ListenAddress
            switch ListenAddress.parse(instance) {
            case .success(let parsed): address = parsed
            case .failure(let failure):
                error(listen.location, "Listen \"\(instance)\": \(failure.reason)")
                continue
            }
            var policy = listenerPolicy
            var listener = ListenerConfiguration(
                address: address, name: address.description, location: listen.location, policy: policy)
            var enabled = true
            for option in listenerDefaults + listen.options {
                do {
                    switch option.name {
                    case "enable": enabled = try OptionReader.bool(option)
                    case "listen_backlog": listener.backlog = try OptionReader.integer(option, in: 1...65535)
                    case "implicit_tls": listener.implicitTLS = try OptionReader.bool(option)
                    case let name where InboundPolicy.optionNames.contains(name): try policy.apply(option)
                    default: reject(option, in: listen)
                    }
                } catch { record(error) }
            }
            listener.policy = policy
            var peers: [(PeerPolicy, Int)] = []
            let listenPeers = listen.scopes.filter { $0.keyword == "peer" }.map { ($0, 1) }
            for child in listen.scopes where child.keyword != "peer" {
                error(child.location, "'\(child.spelling)' is not valid inside \(listen.displayName) (expected Peer)")
            }
            for (peerScope, level) in listenerPeers + listenPeers {
                if let peer = bindPeer(peerScope, base: policy) { peers.append((peer, level)) }
            }
            peers.sort { lhs, rhs in
                lhs.0.block.prefixLength != rhs.0.block.prefixLength
                    ? lhs.0.block.prefixLength > rhs.0.block.prefixLength : lhs.1 > rhs.1
            }
            listener.peers = peers.map(\.0)
            checkAuthentication(policy, at: listen)
            for peer in listener.peers { checkAuthentication(peer.policy, at: listen) }
            if listener.implicitTLS && policy.tlsCertificate == nil {
                error(listen.location, "Listen \"\(instance)\" has implicit_tls = true but no tls_certificate")
            }
            if let certificate = policy.tlsCertificate {
                checkReadable(certificate, what: "tls_certificate", at: policy.tlsLocation ?? listen.location)
                if let key = policy.tlsKey {
                    checkReadable(key, what: "tls_key", at: policy.tlsLocation ?? listen.location)
                }
            }
            if enabled { result.append(listener) }
        }
        return result
    }

    /// SMTP AUTH as a listener (or Peer) ends up: every mechanism `smtp_extensions` lists has its
    /// credentials, CRAM-MD5's hold clear text, and a mechanism that can never be used is said.
    mutating func checkAuthentication(_ policy: InboundPolicy, at listen: ConfigScope) {
        for entry in policy.smtpExtensions where entry.hasPrefix("AUTH ") {
            guard let mechanism = SASLMechanism(rawValue: String(entry.dropFirst(5))) else { continue }
            guard let backend = policy.authBackends[mechanism] else {
                let option =
                    mechanism == .cramMD5 ? "AuthCramMD5Parameters" : "Auth\(mechanism.rawValue.capitalized)Parameters"
                error(listen.location, "'\(entry)' is in smtp_extensions but \(option) = [ uri = \"…\" ] is not set")
                continue
            }
            if mechanism == .cramMD5, case .file(let file) = backend.source, !file.hasClearText {
                error(
                    backend.location,
                    "AUTH CRAM-MD5 needs clear-text passwords, and \(file.path) holds only hashed ones")
            }
        }
        let mechanisms = policy.authMechanisms
        if !mechanisms.isEmpty, !policy.authWithoutTLS, policy.tlsCertificate == nil,
            mechanisms.allSatisfy(\.sendsPassword)
        {
            warning(
                listen.location,
                """
                \(listen.displayName) offers AUTH \(mechanisms.map(\.rawValue).joined(separator: ", ")) only under TLS \
                but has no tls_certificate: nobody can authenticate (set auth_without_tls = true to allow it)
                """)
        }
        if policy.authenticationRequired && mechanisms.isEmpty {
            error(listen.location, "enable_authentication = true, but smtp_extensions offers no AUTH mechanism")
        }
    }

    mutating func bindPeer(_ scope: ConfigScope, base: InboundPolicy) -> PeerPolicy? {
        guard let instance = scope.instance, let block = CIDRBlock(instance) else {
            error(scope.location, "Peer needs an IP address or CIDR block: Peer \"10.0.0.0/8\" { }")
            return nil
        }
        var policy = base
        for option in scope.options {
            if InboundPolicy.optionNames.contains(option.name) {
                do { try policy.apply(option) } catch { record(error) }
            } else {
                reject(option, in: scope)
            }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        return PeerPolicy(block: block, policy: policy)
    }

    mutating func checkReadable(_ path: String, what: String, at location: SourceLocation) {
        if !FileManager.default.isReadableFile(atPath: path) {
            error(location, "\(what) '\(path)' cannot be read")
        }
    }

    mutating func bindLogger(_ scope: ConfigScope, into logs: inout LogConfiguration) {
        for option in scope.options {
            do {
                switch option.name {
                case "mainlog": try logs.setPath(\.mainlog, option)
                case "paniclog": try logs.setPath(\.paniclog, option)
                case "rejectlog": try logs.setPath(\.rejectlog, option)
                case "enabled", "debug_level": _ = try OptionReader.scalar(option)
                case "acctlog", "importlog", "heartbeat", "log_receptions", "log_deliveries", "log_transient_failures",
                    "log_permanent_failures", "log_rejections", "log_errors":
                    warning(option.location, "ec_logger option '\(option.spelling)' is not supported yet (ignored)")
                case let name where name.hasSuffix("_mode"):
                    _ = try OptionReader.octal(option)
                    warning(option.location, "ec_logger option '\(option.spelling)' is not supported yet (ignored)")
                default: error(option.location, "unknown option '\(option.spelling)' in \(scope.displayName)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
    }

    /// A `binding "name"` scope: its name (policies choose it), its outbound options and its
    /// `domain` scopes. Declaring the same binding twice merges the two.
    mutating func bindBinding(
        _ scope: ConfigScope, group: String?, into bindings: inout [BindingDefinition],
        outbound: inout OutboundConfiguration
    ) {
        guard let name = scope.instance, Self.validBindingName(name) else {
            error(scope.location, "binding needs a name without spaces or colons: binding \"name\" { }")
            return
        }
        if let earlier = bindings.first(where: { $0.name == name }), earlier.group != group {
            error(
                scope.location,
                "binding \"\(name)\" is already declared at \(earlier.location) in another binding_group")
            return
        }
        if !bindings.contains(where: { $0.name == name }) {
            bindings.append(BindingDefinition(name: name, group: group, location: scope.location))
        }
        var bindingScope = outbound.bindings[name] ?? OutboundConfiguration.Scope()
        bindOutboundOptions(
            scope, into: &bindingScope.options,
            excluded: OutboundOptions.onlyGlobalOrDomain.union(OutboundOptions.notInBinding),
            hint: "not in a binding: globally, in a binding_group or a domain")
        for child in scope.scopes {
            if child.keyword == "domain" {
                bindDomain(child, into: &bindingScope.domains)
            } else if child.keyword == "host" {
                bindHost(child, into: &bindingScope.hosts)
            } else {
                warning(
                    child.location,
                    """
                    scope '\(child.spelling)' in \(scope.displayName) is not supported yet (ignored with \
                    everything in it)
                    """
                )
            }
        }
        outbound.bindings[name] = bindingScope
    }

    /// The options of a `binding` or `binding_group` scope (not its child scopes); `excluded`
    /// options are errors there, `hint` says where they belong.
    mutating func bindOutboundOptions(
        _ scope: ConfigScope, into options: inout OutboundOptions,
        excluded: Set<String> = OutboundOptions.onlyGlobalOrDomain,
        hint: String = "only globally or in a domain scope"
    ) {
        for option in scope.options {
            if excluded.contains(option.name) {
                let why =
                    OutboundOptions.onlyGlobalOrDomain.contains(option.name)
                    ? "only globally or in a domain scope" : hint
                error(option.location, "option '\(option.spelling)' is not valid in \(scope.displayName) (\(why))")
            } else if OutboundOptions.optionNames.contains(option.name) {
                do { try options.apply(option) } catch { record(error) }
            } else {
                reject(option, in: scope)
            }
        }
    }

    /// The first option (depth first, in file order) with one of these names.
    static func firstOption(named names: Set<String>, in scope: ConfigScope) -> ConfigOption? {
        if let found = scope.options.first(where: { names.contains($0.name) }) { return found }
        for child in scope.scopes {
            if let found = firstOption(named: names, in: child) { return found }
        }
        return nil
    }

    /// A `domain "name"` or `domain "/PCRE/"` scope: its options, merged into an earlier
    /// declaration of the same name.
    mutating func bindDomain(_ scope: ConfigScope, into table: inout NamedScopes) {
        bindNamedScope(scope, into: &table, what: "domain", example: "example.com") { loader, scope, options in
            loader.bindOutboundOptions(
                scope, into: &options, excluded: OutboundOptions.notInDomain, hint: "set it on a binding or globally")
        }
    }

    /// A `host "mx.example.com"` or `host "/PCRE/"` scope (next-hop host names): only the
    /// options Momentum allows there (connection cap and throttles).
    mutating func bindHost(_ scope: ConfigScope, into table: inout NamedScopes) {
        bindNamedScope(scope, into: &table, what: "host", example: "mx.example.com") { loader, scope, options in
            for option in scope.options {
                if OutboundOptions.hostOptionNames.contains(option.name) {
                    do throws(ConfigError) { try options.apply(option) } catch { loader.record(error) }
                } else {
                    loader.error(
                        option.location,
                        """
                        option '\(option.spelling)' is not valid in \(scope.displayName) (a host scope takes \
                        \(OutboundOptions.hostOptionNames.sorted().joined(separator: ", ")))
                        """)
                }
            }
        }
    }

    /// A named `domain` or `host` scope: the name (exact, lower-cased, or a `/PCRE/` compiled
    /// here), the options `bind` reads, merged into an earlier declaration of the same name.
    mutating func bindNamedScope(
        _ scope: ConfigScope, into table: inout NamedScopes, what: String, example: String,
        bind: (inout Binder, ConfigScope, inout OutboundOptions) -> Void
    ) {
        guard let name = scope.instance, !name.isEmpty, !name.contains(" ") || name.hasPrefix("/") else {
            error(scope.location, "\(what) needs a name: \(what) \"\(example)\" { }")
            return
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        if name.hasPrefix("/") {
            guard name.count >= 2, name.hasSuffix("/") else {
                error(scope.location, "a regular-expression \(what) scope is written \"/pattern/\", found '\(name)'")
                return
            }
            if let index = table.patternIndex(name) {
                bind(&self, scope, &table.patterns[index].options)
                return
            }
            do {
                let pattern = try ScopePattern(name)
                var options = OutboundOptions()
                bind(&self, scope, &options)
                table.patterns.append((pattern, options))
            } catch {
                self.error(
                    scope.location,
                    "\(what) pattern \(name) does not compile: \(error.message) at offset \(error.offset)")
            }
            return
        }
        var options = table[name.lowercased()] ?? OutboundOptions()
        bind(&self, scope, &options)
        table[name.lowercased()] = options
    }

    /// `bounce_logger { bouncelog = "path" }`.
    mutating func bindBounceLogger(_ scope: ConfigScope, into logs: inout LogConfiguration) {
        for option in scope.options {
            do {
                switch option.name {
                case "bouncelog": try logs.setPath(\.bouncelog, option)
                case "enabled", "debug_level": _ = try OptionReader.scalar(option)
                case "log_transient_failures": logs.bouncelogTransientFailures = try OptionReader.bool(option)
                case "bouncelog_mode", "heartbeat", "log_inband_bounces", "log_outofband_bounces":
                    _ = try OptionReader.scalar(option)
                    warning(option.location, "bounce_logger option '\(option.spelling)' is not supported yet (ignored)")
                default: error(option.location, "unknown option '\(option.spelling)' in \(scope.displayName)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
    }

}
