/// Every scope's outbound options, and the lookup that picks a value for one binding and
/// destination domain in Momentum's fallback order (Momentum's manual on option scopes; docs/config-reference.md), most
/// specific first:
///
/// 1. `binding ▸ domain` (a binding inside a group included: binding names are unique)
/// 2. `binding_group ▸ domain`
/// 3. `binding`
/// 4. `binding_group`
/// 5. global `domain`
/// 6. global
/// 7. the built-in default
public struct OutboundConfiguration: Sendable {
    /// A `binding` or `binding_group` scope's own options and its `domain` and `host` scopes.
    public struct Scope: Sendable {
        public var options = OutboundOptions()
        public var domains = NamedScopes()
        public var hosts = NamedScopes()
        public init() {}
    }

    public var global = OutboundOptions()
    public var globalDomains = NamedScopes()
    /// Global `host` scopes: next-hop host names (MX, gateway or route hosts) or `/PCRE/`.
    public var globalHosts = NamedScopes()
    public var bindings: [String: Scope] = [:]
    public var bindingGroups: [String: Scope] = [:]
    /// `cluster { throttle_store = "redis://host:port" }`: where cluster-wide throttles live.
    public var clusterThrottleStore: NextHop?
    /// `mta_sts_policy_store` (a directory; nil: under the spool), and Impulse's
    /// `mta_sts_https_port` and `mta_sts_ca` for the policy fetch.
    public var mtaSTSPolicyStore: String?
    public var mtaSTSHTTPSPort = 443
    public var mtaSTSCA: String?

    public init() {}

    /// The options in force for `domain` delivered through `binding` (of `group`).
    public func resolve(binding: String, group: String?, domain: String) -> ResolvedOutboundOptions {
        let domain = domain.lowercased()
        let bindingScope = bindings[binding]
        let groupScope = group.flatMap { bindingGroups[$0] }
        let bindingDomain = bindingScope?.domains.lookup(domain)
        let groupDomain = groupScope?.domains.lookup(domain)
        let globalDomain = globalDomains.lookup(domain)
        let chain: [(options: OutboundOptions?, name: String)] = [
            (bindingDomain?.options, "binding \(binding) domain \(bindingDomain?.scope ?? "")"),
            (groupDomain?.options, "binding_group \(group ?? "") domain \(groupDomain?.scope ?? "")"),
            (bindingScope?.options, "binding \(binding)"), (groupScope?.options, "binding_group \(group ?? "")"),
            (globalDomain?.options, "domain \(globalDomain?.scope ?? "")"), (global, "global")
        ]
        var merged = OutboundOptions()
        for scope in chain.reversed() {
            if let options = scope.options { merged = options.over(merged) }
        }
        var resolved = ResolvedOutboundOptions(merged)
        // Throttles by reference: named after the most specific scope that sets them.
        func defined(_ rate: KeyPath<OutboundOptions, ThrottleRate?>) -> ScopedRate? {
            for scope in chain {
                if let value = scope.options?[keyPath: rate] {
                    return value.count == 0 ? nil : ScopedRate(rate: value, scope: scope.name)
                }
            }
            return nil
        }
        resolved.throttleMessages = defined(\.outboundThrottleMessages)
        resolved.throttleConnections = defined(\.outboundThrottleConnections)
        resolved.clusterThrottleMessages = defined(\.clusterThrottleMessages)
        resolved.clusterThrottleConnections = defined(\.clusterThrottleConnections)
        return resolved
    }

    /// Whether any scope declares a `host` scope (only then are a domain's next-hop names looked
    /// up before its connections open).
    public var hasHostScopes: Bool {
        !globalHosts.isEmpty || bindings.values.contains { !$0.hosts.isEmpty }
            || bindingGroups.values.contains { !$0.hosts.isEmpty }
    }

    /// The `host` scope next-hop host `host` falls in for `binding` (of `group`), with the limits
    /// in force there — Momentum's host chain, most specific first: `binding ▸ host` (a binding
    /// inside a group included), `binding_group ▸ host`, global `host`. `scope` names the most
    /// specific matching stanza (`binding:b1 host /…/`): every domain whose next hop falls in
    /// it shares its limits. Nil when no host scope matches.
    public func hostScope(binding: String, group: String?, host: String) -> (scope: String, limits: HostLimits)? {
        let host = host.lowercased()
        let bindingScope = bindings[binding]
        let groupScope = group.flatMap { bindingGroups[$0] }
        let found: [(container: String, match: (scope: String, options: OutboundOptions)?)] = [
            ("binding \(binding) ", bindingScope?.hosts.lookup(host)),
            ("binding_group \(group ?? "") ", groupScope?.hosts.lookup(host)),
            ("", globalHosts.lookup(host))
        ]
        guard let first = found.first(where: { $0.match != nil }), let firstMatch = first.match else { return nil }
        var merged = OutboundOptions()
        for entry in found.reversed() {
            if let options = entry.match?.options { merged = options.over(merged) }
        }
        func defined(_ rate: KeyPath<OutboundOptions, ThrottleRate?>) -> ScopedRate? {
            for entry in found {
                if let match = entry.match, let value = match.options[keyPath: rate] {
                    return value.count == 0
                        ? nil : ScopedRate(rate: value, scope: entry.container + "host " + match.scope)
                }
            }
            return nil
        }
        return (
            first.container + "host " + firstMatch.scope,
            HostLimits(
                maxOutboundConnections: merged.maxOutboundConnections,
                throttleMessages: defined(\.outboundThrottleMessages),
                throttleConnections: defined(\.outboundThrottleConnections))
        )
    }

    /// `server_max_outbound_connections` of a binding (binding ▸ group ▸ global).
    public func serverMaxOutboundConnections(binding: String, group: String?) -> Int? {
        bindings[binding]?.options.serverMaxOutboundConnections
            ?? group.flatMap { bindingGroups[$0]?.options.serverMaxOutboundConnections }
    }

    /// The global connection cap.
    public var globalMaxOutboundConnections: Int { global.serverMaxOutboundConnections ?? 20000 }
}

/// What a `host` scope limits: connections open at once and the two rates, each nil when no
/// scope of the host chain sets it.
public struct HostLimits: Sendable, Equatable {
    public var maxOutboundConnections: Int?
    public var throttleMessages: ScopedRate?
    public var throttleConnections: ScopedRate?
}

/// The values in force for one binding and domain, defaults filled in.
public struct ResolvedOutboundOptions: Sendable, Equatable {
    public var retryInterval: Int
    public var maxRetryInterval: Int
    /// nil: no count limit (expiry only).
    public var maxRetries: Int?
    public var messageExpiration: Int
    public var neverRetry: Bool
    public var generateBounces: Bool
    public var bouncesInlineOriginal: OutboundOptions.InlineOriginal
    public var mailerDaemon: String?
    public var maxOutboundConnections: Int
    public var maxDeliveriesPerConnection: Int
    public var maxRecipientsPerBatch: Int
    public var connectTimeout: Int
    public var ehloTimeout: Int
    public var mailFromTimeout: Int
    public var rcptToTimeout: Int
    public var bodyTimeout: Int
    public var idleTimeout: Int
    public var remoteSMTPPort: Int
    public var tls: OutboundOptions.TLSMode
    /// nil or `*`: the kernel picks the source address.
    public var bindAddress: String?
    /// `__hostname__` (the default) or `__message__` are resolved by the caller.
    public var ehloHostname: String
    public var gateway: NextHop?
    public var routes: [NextHop]?
    public var suspendDelivery: Bool
    /// `opendkim_sign` (Momentum's default: true; signing needs an opendkim stanza as well).
    public var opendkimSign: Bool
    /// nil: unlimited. Set by `OutboundConfiguration.resolve` with the scope that defines them.
    public var throttleMessages: ScopedRate?
    public var throttleConnections: ScopedRate?
    /// `cluster_outbound_throttle_*`: shared with every node through the throttle store.
    public var clusterThrottleMessages: ScopedRate?
    public var clusterThrottleConnections: ScopedRate?
    /// `adaptive_enabled` (Impulse's default: true; Momentum's add-on is off until enabled).
    public var adaptiveEnabled: Bool
    /// `tls_verify` (default `no`), and the files and ciphers of outbound TLS.
    public var tlsVerify: OutboundOptions.TLSVerify
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var tlsCiphers: String?
    /// `use_mta_sts` (default false) and `enable_mta_sts` (default true).
    public var useMTASTS: Bool
    public var enableMTASTS: Bool
    /// `use_dane` (default false) and `enable_dane` (default true).
    public var useDANE: Bool
    public var enableDANE: Bool
    /// `transform_8bitmime_content` (default ifneeded).
    public var transform8BitMIME: OutboundOptions.EightBitTransform
    /// `delivery_method` (default ESMTP).
    public var deliveryMethod: OutboundOptions.DeliveryMethod
    /// The port next hops are reached on: `lmtp_port` (default 2003) for LMTP, else
    /// `remote_smtp_port`.
    public var deliveryPort: Int
    /// `generate_delay_dsn` (default false) and `delay_dsn_retry_interval` (default 3600 s).
    public var generateDelayDSN: Bool
    public var delayDSNRetryInterval: Int
    /// outbound_smtp_auth: what to authenticate to the next hop with (nil: no AUTH), and
    /// `outbound_smtp_auth_without_tls` (default false: only over TLS).
    public var outboundAuth: OutboundAuth?
    public var outboundAuthWithoutTLS: Bool
    /// `outbound_smtp_auth_key` (Momentum: a key scripts look credentials up by).
    public var outboundAuthKey: String?

    /// Credentials for a next hop (RFC 4954): never logged, never shown by the console.
    public struct OutboundAuth: Sendable, Equatable, CustomStringConvertible {
        public var user: String
        public var password: String
        /// PLAIN (the default) or LOGIN.
        public var mechanism: String
        /// Set when only one of user and password is configured: delivery fails temporarily
        /// with this, rather than going without AUTH.
        public var problem: String?
        public var description: String { "\(mechanism) as \(user)" }
    }

    init(_ options: OutboundOptions) {
        retryInterval = options.retryInterval ?? 1200
        maxRetryInterval = options.maxRetryInterval ?? 43200
        messageExpiration = options.messageExpiration ?? 86400
        switch options.maxRetries ?? .auto {
        case .count(let count): maxRetries = count
        case .auto, .none: maxRetries = nil
        }
        neverRetry = options.neverRetry ?? false
        generateBounces = options.generateBounces ?? true
        bouncesInlineOriginal = options.bouncesInlineOriginal ?? .headers
        mailerDaemon = options.mailerDaemon
        maxOutboundConnections = options.maxOutboundConnections ?? 32
        maxDeliveriesPerConnection = options.maxDeliveriesPerConnection ?? 0
        maxRecipientsPerBatch = options.maxRecipientsPerBatch ?? 100
        // Momentum waits 300 s; an address that does not answer a SYN in 30 s will not (Postfix's
        // smtp_connect_timeout), and a long wait holds a connection slot per attempt.
        connectTimeout = options.connectTimeout ?? 30
        ehloTimeout = options.ehloTimeout ?? 300
        mailFromTimeout = options.mailFromTimeout ?? 300
        rcptToTimeout = options.rcptToTimeout ?? 300
        bodyTimeout = options.bodyTimeout ?? 600
        idleTimeout = options.idleTimeout ?? 5
        remoteSMTPPort = options.remoteSMTPPort ?? 25
        tls = options.tls ?? .ifavailable
        bindAddress = options.bindAddress == "*" ? nil : options.bindAddress
        ehloHostname = options.ehloHostname ?? "__hostname__"
        gateway = options.gateway
        routes = options.routes
        suspendDelivery = options.suspendDelivery ?? false
        opendkimSign = options.opendkimSign ?? true
        adaptiveEnabled = options.adaptiveEnabled ?? true
        tlsVerify = options.tlsVerify ?? .no
        tlsCA = options.tlsCA
        tlsCertificate = options.tlsCertificate
        tlsKey = options.tlsKey
        tlsCiphers = options.tlsCiphers
        generateDelayDSN = options.generateDelayDSN ?? false
        deliveryMethod = options.deliveryMethod ?? .esmtp
        transform8BitMIME = options.transform8BitMIME ?? .ifneeded
        useMTASTS = options.useMTASTS ?? false
        enableMTASTS = options.enableMTASTS ?? true
        useDANE = options.useDANE ?? false
        enableDANE = options.enableDANE ?? true
        deliveryPort = deliveryMethod == .lmtp ? options.lmtpPort ?? 2003 : remoteSMTPPort
        delayDSNRetryInterval = options.delayDSNRetryInterval ?? 3600
        if options.outboundAuthUser != nil || options.outboundAuthPassword != nil {
            let missing = options.outboundAuthUser == nil ? "outbound_smtp_auth_user" : "outbound_smtp_auth_pass"
            let complete = options.outboundAuthUser != nil && options.outboundAuthPassword != nil
            outboundAuth = OutboundAuth(
                user: options.outboundAuthUser ?? "", password: options.outboundAuthPassword ?? "",
                mechanism: options.outboundAuthType ?? "PLAIN",
                problem: complete ? nil : "outbound SMTP AUTH is configured without \(missing)")
        }
        outboundAuthWithoutTLS = options.outboundAuthWithoutTLS ?? false
        outboundAuthKey = options.outboundAuthKey
    }

    /// The delay before attempt `attempt + 1` after `attempt` failures (1×, 2×, 4×… of
    /// retry_interval, capped at max_retry_interval).
    public func retryDelay(afterAttempts attempts: Int) -> Int {
        let exponent = min(max(attempts - 1, 0), 30)
        let delay = retryInterval.multipliedReportingOverflow(by: 1 << exponent)
        return delay.overflow ? maxRetryInterval : min(delay.partialValue, maxRetryInterval)
    }
}
