/// A loaded, validated configuration. Built by `ConfigurationLoader`.
public struct ImpulseConfiguration: Sendable {
    /// The master file this was read from.
    public var sourcePath: String
    /// The file as written, for the console's `config get` / `config eval` and `msys.config`.
    public var query = ConfigQuery(
        root: ConfigScope(keyword: "", spelling: "", instance: nil, location: .init(file: "", line: 0, column: 0)))
    /// `hostname`: the name Impulse uses for itself (greeting, Received:, message ids).
    public var hostname: String
    /// `spoolbase`: root of the message spool.
    public var spoolbase: String
    /// `spool_mode`: mode of new spool files.
    public var spoolMode: Int = 0o640
    /// `shutdown_timeout` (Impulse): seconds in-flight sessions get after SIGTERM before they are cut.
    public var shutdownTimeout: Int = 30
    /// `reception_memory_limit` (Impulse): octets all sessions together may hold in messages being received.
    public var receptionMemoryLimit: Int = 1 << 30
    /// `resolv_conf`: name servers for DNS lookups (nil: /etc/resolv.conf).
    public var resolvConf: String?
    /// `dns_nameservers` (Impulse): name servers as `ip` or `ip@port`; when set, resolv_conf is not read.
    public var dnsNameservers: [String] = []
    /// `dnssec_trust_anchors` (DS or DNSKEY records) and `dnssec_trust_anchor_file` (Impulse):
    /// DNSSEC validation for DANE.
    public var dnssecTrustAnchors: [String] = []
    public var dnssecTrustAnchorFile: String?
    public var listeners: [ListenerConfiguration] = []
    public var logs = LogConfiguration()
    public var scriptlet: ScriptletConfiguration?
    /// The `opendkim` stanza: DKIM signing at reception.
    public var dkimSigning: DKIMSigningConfiguration?
    /// The `spf` stanza: SPF checks at MAIL FROM.
    public var spf: SPFConfiguration?
    /// The `dmarc` stanza: DMARC evaluation of received messages.
    public var dmarc: DMARCConfiguration?
    /// `signing_stats`: how finely DKIM signing is counted (all, global, off).
    public var signingStats = "all"
    /// `binding` and `binding_group` scopes: the names policies may choose (msg:binding,
    /// msg:binding_group). Their delivery options come with outbound delivery.
    public var bindings: [BindingDefinition] = []
    /// Outbound delivery options of every scope (global, binding_group, binding, domain).
    public var outbound = OutboundConfiguration()
    /// `bounce_classifier_override`: operator rules for bounce classification codes.
    public var bounceClassifier = BounceClassifierConfiguration()
    /// `Control_Listener`: the console's sockets. Without the stanza there is no control socket.
    public var control: ControlListenerConfiguration?
    /// `HTTP_Listener { Listen "addr:port" { } }`: Prometheus metrics at `/metrics`, the
    /// injection API and /stats (docs/http-api.md).
    public var httpListeners: [HTTPListen] = []
    /// The addresses of `httpListeners`.
    public var httpListens: [ListenAddress] { httpListeners.map(\.address) }
    /// `ThreadPool "name" { Concurrency Backlog }`: Momentum's standard pools with their
    /// defaults, changed or extended by the file's stanzas (msys.runInPool runs in them).
    public var threadPools: [ThreadPoolDefinition] = ThreadPoolDefinition.standard
    /// `Datasource "name"` scopes: msys.db's databases (docs/datasources.md).
    public var datasources: [DatasourceDefinition] = []
    /// `user` and `group`: who Impulse runs as once its ports are bound (when started as root).
    public var user: String?
    public var group: String?
    /// `siv_throttle_cache_size`: how many named throttles policies may create
    /// (msys.shared_throttle); the one used longest ago goes when a new one would pass it.
    public var namedThrottleCapacity = 1000
    /// Findings that did not stop loading ("not supported yet" and the like).
    public var warnings: [ConfigDiagnostic] = []

    public init(sourcePath: String, hostname: String, spoolbase: String) {
        self.sourcePath = sourcePath
        self.hostname = hostname
        self.spoolbase = spoolbase
    }
}

/// One `Listen` socket of `ESMTP_Listener`, with its resolved inbound policies.
public struct ListenerConfiguration: Sendable {
    public var address: ListenAddress {
        didSet { name = address.description }
    }
    /// `address` as text, computed once: it labels every session.
    public private(set) var name: String
    public var location: SourceLocation
    /// `implicit_tls` (Impulse): TLS from the first octet (port 465, RFC 8314 §3.3).
    public var implicitTLS = false
    /// `listen_backlog`.
    public var backlog = 500
    /// The policy for a client no Peer matches.
    public var policy: InboundPolicy
    /// Peer blocks, most specific first; a Listen-level Peer wins a tie with a listener-level one.
    public var peers: [PeerPolicy] = []

    /// The policy for one client and the Peer block (if any) that supplied it.
    public func policy(for client: IPAddress) -> (InboundPolicy, CIDRBlock?) {
        for peer in peers where peer.block.contains(client) { return (peer.policy, peer.block) }
        return (policy, nil)
    }
}

/// A `Peer "cidr" { … }` block and the policy in force for its clients.
public struct PeerPolicy: Sendable {
    public var block: CIDRBlock
    public var policy: InboundPolicy
}

/// The `ec_logger` module's file locations.
public struct LogConfiguration: Sendable {
    public var mainlog: String?
    public var paniclog: String?
    public var rejectlog: String?
    /// `bounce_logger { bouncelog = … }`.
    public var bouncelog: String?
    /// `adaptive { adaptivelog = … }`: what response-driven back-off did.
    public var adaptivelog: String?
    /// `bounce_logger { log_transient_failures }`: T records in the bounce log too.
    public var bouncelogTransientFailures = true
    /// Where each log path was set, by path (a file that cannot be opened at start-up is
    /// reported with its option's place).
    public var locations: [String: SourceLocation] = [:]
    public init() {}

    /// Sets one of the log paths from `option`, remembering where it was set.
    mutating func setPath(_ field: WritableKeyPath<LogConfiguration, String?>, _ option: ConfigOption)
        throws(ConfigError)
    {
        let path = try OptionReader.path(option)
        self[keyPath: field] = path
        locations[path] = option.location
    }

    /// "file:line:column: " for the option that set `path`, or nothing.
    public func placeOf(_ path: String) -> String { locations[path].map { "\($0): " } ?? "" }
}

/// The `scriptlet "…" { script "name" { source = "…" } }` stanza (run by the Lua engine).
public struct ScriptletConfiguration: Sendable {
    public struct Script: Sendable, Equatable {
        public var name: String
        public var source: String
        /// The file found on the search path, or nil for Momentum's built-in `msys.*` modules.
        public var resolvedPath: String?
        public var location: SourceLocation
    }

    public var instance: String
    public var scripts: [Script] = []
    /// Directories searched for module-path sources; the config file's directory first.
    public var searchPath: [String] = []
    /// `gc_pause` and `gc_stepmul`: the Lua collector's pause and step multiplier (percent),
    /// for every Lua state of the policy. Lua's defaults, 200 and 200, as Momentum's.
    public var gcPause = 200
    public var gcStepMultiplier = 200
    /// `max_memory` (Impulse): octets each policy Lua state may hold (256 MiB). Past it the
    /// running callout fails (451 4.3.0, a paniclog line naming the module); never the process.
    public var maxMemory = ScriptletConfiguration.defaultMaxMemory
    public static let defaultMaxMemory = 256 * 1024 * 1024
    public var location: SourceLocation
}

/// A `binding "name"` scope, at the top level or inside `binding_group "group"`.
public struct BindingDefinition: Sendable, Equatable {
    public var name: String
    public var group: String?
    public var location: SourceLocation
}

/// A `ThreadPool "name"` scope.
public struct ThreadPoolDefinition: Sendable, Equatable {
    public var name: String
    /// Threads (each with its own Lua state, made when first needed). 0: the pool refuses jobs.
    public var concurrency: Int
    /// Jobs waiting at most (0: no limit); a job over it is refused, never blocks an event loop.
    public var backlog: Int

    public init(name: String, concurrency: Int, backlog: Int = 0) {
        self.name = name
        self.concurrency = concurrency
        self.backlog = backlog
    }

    /// Momentum's implicit pools and their defaults (Momentum's manual, ThreadPool).
    public static let standard = [
        ThreadPoolDefinition(name: "SwapOut", concurrency: 5), ThreadPoolDefinition(name: "SwapIn", concurrency: 5),
        ThreadPoolDefinition(name: "Unlink", concurrency: 6, backlog: 100),
        ThreadPoolDefinition(name: "Batch_Unlink", concurrency: 4),
        ThreadPoolDefinition(name: "Close", concurrency: 0), ThreadPoolDefinition(name: "CPU", concurrency: 4),
        ThreadPoolDefinition(name: "IO", concurrency: 50), ThreadPoolDefinition(name: "SpoolIn", concurrency: 1)
    ]
}

/// `Control_Listener { Listen "/path" { File_Mode = 0600 }  Listen "127.0.0.1:2025" { }  Timeout = 60 }`.
public struct ControlListenerConfiguration: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        /// A Unix-domain socket and its permissions.
        case unix(path: String, mode: Int)
        /// A loopback TCP address (other addresses are refused: the channel has no TLS or login).
        case tcp(ListenAddress)
    }

    public var endpoints: [Endpoint] = []
    /// Idle seconds before a console connection is closed.
    public var timeout = 60
    public var location: SourceLocation

    public init(location: SourceLocation) { self.location = location }
}
