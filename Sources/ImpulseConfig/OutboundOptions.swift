/// Outbound delivery options as one scope sets them (global, `binding_group`, `binding` or
/// `domain`); nil means "not set here, ask the next scope". Names are Momentum's
/// (Momentum's configuration manual; docs/config-reference.md); `OutboundConfiguration.resolve` applies the
/// fallback order and the defaults.
public struct OutboundOptions: Sendable, Equatable {
    public enum MaxRetries: Sendable, Equatable {
        /// Derived from message_expiration (only expiry limits the attempts in practice).
        case auto
        /// Only message_expiration applies.
        case none
        case count(Int)
    }

    /// `tls`: outbound STARTTLS policy.
    public enum TLSMode: String, Sendable, Equatable {
        case no, ifavailable, required
    }

    /// `delivery_method`: the protocol mail is delivered with.
    public enum DeliveryMethod: String, Sendable, Equatable {
        /// SMTP with extensions (RFC 5321).
        case esmtp
        /// LMTP (RFC 2033), to `lmtp_port` or a Unix socket gateway.
        case lmtp
    }

    /// `transform_8bitmime_content`: what becomes of 8-bit mail for a next hop without 8BITMIME.
    public enum EightBitTransform: String, Sendable, Equatable {
        /// Sent as it is.
        case no
        /// Encoded to 7 bits where it can be (quoted-printable, base64).
        case ifneeded
        /// Encoded, and failed when 8-bit octets would remain.
        case strict
        /// The eighth bit of body octets cleared.
        case strip
    }

    /// `tls_verify`: what is checked of the next hop's certificate.
    public enum TLSVerify: String, Sendable, Equatable {
        /// Nothing (opportunistic TLS, RFC 7435).
        case no
        /// The chain, to `tls_ca` (or the system's roots).
        case ca
        /// The chain and the next hop's host name (RFC 6125).
        case host
        /// Accepted as Momentum writes it; checks nothing (delivery must not fail on it).
        case optional
    }

    /// `bounces_inline_original`.
    public enum InlineOriginal: String, Sendable, Equatable {
        case none, headers, all
    }

    public var retryInterval: Int?
    public var maxRetryInterval: Int?
    public var maxRetries: MaxRetries?
    public var messageExpiration: Int?
    public var neverRetry: Bool?
    public var generateBounces: Bool?
    public var bouncesInlineOriginal: InlineOriginal?
    public var mailerDaemon: String?
    public var maxOutboundConnections: Int?
    public var serverMaxOutboundConnections: Int?
    public var maxDeliveriesPerConnection: Int?
    public var maxRecipientsPerBatch: Int?
    public var connectTimeout: Int?
    public var ehloTimeout: Int?
    public var mailFromTimeout: Int?
    public var rcptToTimeout: Int?
    public var bodyTimeout: Int?
    public var idleTimeout: Int?
    public var remoteSMTPPort: Int?
    public var tls: TLSMode?
    public var bindAddress: String?
    public var ehloHostname: String?
    public var gateway: NextHop?
    public var routes: [NextHop]?
    public var suspendDelivery: Bool?
    /// `opendkim_sign`: whether the opendkim stanza signs mail of this scope.
    public var opendkimSign: Bool?
    /// `outbound_throttle_messages`: messages sent at most at this rate.
    public var outboundThrottleMessages: ThrottleRate?
    /// `outbound_throttle_connections`: connections opened at most at this rate.
    public var outboundThrottleConnections: ThrottleRate?
    /// `adaptive_enabled`: whether response-driven back-off acts on this scope's queues.
    public var adaptiveEnabled: Bool?
    public var tlsVerify: TLSVerify?
    /// `generate_delay_dsn`, and `delay_dsn_retry_interval`: how long a recipient may wait before
    /// its sender hears that it is delayed.
    public var generateDelayDSN: Bool?
    public var delayDSNRetryInterval: Int?
    public var deliveryMethod: DeliveryMethod?
    /// `cluster_outbound_throttle_messages` / `_connections`: rates shared by every node through
    /// the cluster's throttle store.
    public var clusterThrottleMessages: ThrottleRate?
    public var clusterThrottleConnections: ThrottleRate?
    /// `use_mta_sts` (global, domain): look the domain's MTA-STS policy up; `enable_mta_sts`:
    /// apply it.
    public var useMTASTS: Bool?
    public var enableMTASTS: Bool?
    /// `use_dane` (global, domain): DNSSEC-validated TLSA records decide the next hops' TLS
    /// (RFC 7672); `enable_dane`: apply them.
    public var useDANE: Bool?
    public var enableDANE: Bool?
    public var transform8BitMIME: EightBitTransform?
    /// `lmtp_port`: the port of LMTP next hops.
    public var lmtpPort: Int?
    /// Momentum's outbound_smtp_auth: `outbound_smtp_auth_user`, `_pass`, `_type` (PLAIN or
    /// LOGIN) and `_key`; and Impulse's `outbound_smtp_auth_without_tls`.
    public var outboundAuthUser: String?
    public var outboundAuthPassword: String?
    public var outboundAuthType: String?
    public var outboundAuthKey: String?
    public var outboundAuthWithoutTLS: Bool?
    /// `tls_ca`, `tls_certificate` (a client certificate, may hold the key), `tls_key`,
    /// `tls_ciphers`: files are absolute.
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var tlsCiphers: String?

    public init() {}

    /// Every option name this type reads.
    public static let optionNames: Set<String> = [
        "retry_interval", "max_retry_interval", "max_retries", "message_expiration", "never_retry", "generate_bounces",
        "bounces_inline_original", "mailerdaemon", "max_outbound_connections", "server_max_outbound_connections",
        "max_deliveries_per_connection", "max_recipients_per_batch", "connect_timeout", "ehlo_timeout",
        "mailfrom_timeout",
        "rcptto_timeout", "body_timeout", "idle_timeout", "remote_smtp_port", "tls", "bind_address", "ehlo_hostname",
        "gateway", "routes", "suspend_delivery", "opendkim_sign", "outbound_throttle_messages",
        "outbound_throttle_connections", "adaptive_enabled", "tls_verify", "tls_ca", "tls_certificate", "tls_key",
        "tls_ciphers", "generate_delay_dsn", "delay_dsn_retry_interval", "delivery_method", "lmtp_port",
        "transform_8bitmime_content", "cluster_outbound_throttle_messages", "cluster_outbound_throttle_connections",
        "use_mta_sts", "enable_mta_sts", "use_dane", "enable_dane", "outbound_smtp_auth_user",
        "outbound_smtp_auth_pass",
        "outbound_smtp_auth_type", "outbound_smtp_auth_key", "outbound_smtp_auth_without_tls"
    ]
    /// Options a `binding` scope may not set (Momentum's scope column: G, BG, D only).
    static let notInBinding: Set<String> = [
        "cluster_outbound_throttle_messages", "cluster_outbound_throttle_connections", "use_mta_sts", "use_dane"
    ]
    /// Options a `binding_group` scope may not set (Momentum's scope column: G, D only).
    static let notInGroup: Set<String> = ["use_mta_sts", "use_dane"]
    /// The options a `host` scope may set (Momentum's scope column H).
    public static let hostOptionNames: Set<String> = [
        "max_outbound_connections", "outbound_throttle_messages", "outbound_throttle_connections"
    ]
    /// Options a `domain` scope may not set (Momentum's scope column: G, B, BG only).
    static let notInDomain: Set<String> = ["server_max_outbound_connections", "bind_address"]
    /// The cluster-wide throttle options.
    public static let clusterOptionNames: Set<String> = [
        "cluster_outbound_throttle_messages", "cluster_outbound_throttle_connections"
    ]
    /// Options only the global and `domain` scopes may set.
    static let onlyGlobalOrDomain: Set<String> = ["routes"]

    /// Reads one option into this scope's values.
    mutating func apply(_ option: ConfigOption) throws(ConfigError) {
        let day = 86400 * 365
        switch option.name {
        case "retry_interval": retryInterval = try OptionReader.integer(option, in: 1...day)
        case "max_retry_interval": maxRetryInterval = try OptionReader.integer(option, in: 1...day)
        case "max_retries":
            switch try OptionReader.scalar(option).lowercased() {
            case "auto": maxRetries = .auto
            case "none": maxRetries = MaxRetries.none
            default: maxRetries = .count(try OptionReader.integer(option, in: 0...1_000_000))
            }
        case "message_expiration": messageExpiration = try OptionReader.integer(option, in: 1...day)
        case "never_retry": neverRetry = try OptionReader.bool(option)
        case "generate_bounces": generateBounces = try OptionReader.bool(option)
        case "bounces_inline_original":
            bouncesInlineOriginal = try OptionReader.choice(
                option, [("none", InlineOriginal.none), ("headers", .headers), ("all", .all)])
        case "mailerdaemon":
            let text = try OptionReader.scalar(option)
            guard text.contains("@"),
                !text.contains(where: { $0 == "<" || $0 == ">" || $0 == " " || $0 == "\r" || $0 == "\n" })
            else {
                throw ConfigError(
                    option.value.location,
                    "'\(option.spelling)' expects an address such as mailer-daemon@example.com, found '\(text)'")
            }
            mailerDaemon = text
        case "max_outbound_connections": maxOutboundConnections = try OptionReader.integer(option, in: 1...100_000)
        case "server_max_outbound_connections":
            serverMaxOutboundConnections = try OptionReader.integer(option, in: 1...1_000_000)
        case "max_deliveries_per_connection":
            maxDeliveriesPerConnection = try OptionReader.integer(option, in: 0...Int(Int32.max))
        case "max_recipients_per_batch": maxRecipientsPerBatch = try OptionReader.integer(option, in: 1...10_000)
        case "connect_timeout": connectTimeout = try OptionReader.integer(option, in: 1...3600)
        case "ehlo_timeout": ehloTimeout = try OptionReader.integer(option, in: 1...3600)
        case "mailfrom_timeout": mailFromTimeout = try OptionReader.integer(option, in: 1...3600)
        case "rcptto_timeout": rcptToTimeout = try OptionReader.integer(option, in: 1...3600)
        case "body_timeout": bodyTimeout = try OptionReader.integer(option, in: 1...7200)
        case "idle_timeout": idleTimeout = try OptionReader.integer(option, in: 0...3600)
        case "remote_smtp_port": remoteSMTPPort = try OptionReader.integer(option, in: 1...65535)
        case "tls":
            tls = try OptionReader.choice(option, [("no", .no), ("ifavailable", .ifavailable), ("required", .required)])
        case "bind_address":
            let text = try OptionReader.scalar(option)
            if text != "*" && IPAddress(text) == nil {
                throw ConfigError(
                    option.value.location,
                    "'\(option.spelling)' expects an IP address of this machine or *, found '\(text)'")
            }
            bindAddress = text
        case "ehlo_hostname":
            let text = try OptionReader.scalar(option)
            guard !text.isEmpty, !text.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
                throw ConfigError(
                    option.value.location,
                    "'\(option.spelling)' expects a host name, __hostname__ or __message__, found '\(text)'")
            }
            ehloHostname = text
        case "gateway":
            let text = try OptionReader.scalar(option)
            guard let hop = NextHop(text) else {
                throw ConfigError(
                    option.value.location,
                    "'\(option.spelling)' expects host, host:port, IP or [IPv6]:port, found '\(text)'")
            }
            gateway = hop
        case "routes":
            var hops: [NextHop] = []
            for (text, location) in try OptionReader.list(option) {
                guard let hop = NextHop(route: text) else {
                    throw ConfigError(
                        location,
                        "'\(text)' in '\(option.spelling)' is not a route (host, IP, __mx__ or smtp://ip?port=N)")
                }
                hops.append(hop)
            }
            routes = hops
        case "suspend_delivery": suspendDelivery = try OptionReader.bool(option)
        case "opendkim_sign": opendkimSign = try OptionReader.bool(option)
        case "outbound_throttle_messages": outboundThrottleMessages = try OptionReader.rate(option)
        case "outbound_throttle_connections": outboundThrottleConnections = try OptionReader.rate(option)
        case "adaptive_enabled": adaptiveEnabled = try OptionReader.bool(option)
        case "tls_verify":
            tlsVerify = try OptionReader.choice(
                option, [("no", .no), ("ca", .ca), ("host", .host), ("optional", TLSVerify.optional)])
        case "tls_ca": tlsCA = try OptionReader.readablePath(option)
        case "tls_certificate": tlsCertificate = try OptionReader.readablePath(option)
        case "tls_key": tlsKey = try OptionReader.readablePath(option)
        case "tls_ciphers": tlsCiphers = try OptionReader.scalar(option)
        case "generate_delay_dsn": generateDelayDSN = try OptionReader.bool(option)
        case "delivery_method":
            let text = try OptionReader.scalar(option)
            switch text.uppercased() {
            case "ESMTP": deliveryMethod = .esmtp
            case "LMTP": deliveryMethod = .lmtp
            default:
                throw ConfigError(
                    option.value.location,
                    """
                    '\(option.spelling)' \(text) is not supported: Impulse delivers with ESMTP or LMTP (SMTP, \
                    ECSTREAM, APN, GCM and MM7 are not available)
                    """)
            }
        case "lmtp_port": lmtpPort = try OptionReader.integer(option, in: 1...65535)
        case "outbound_smtp_auth_user": outboundAuthUser = try OptionReader.scalar(option)
        case "outbound_smtp_auth_pass": outboundAuthPassword = try OptionReader.scalar(option)
        case "outbound_smtp_auth_key": outboundAuthKey = try OptionReader.scalar(option)
        case "outbound_smtp_auth_type":
            outboundAuthType = try OptionReader.choice(option, [("plain", "PLAIN"), ("login", "LOGIN")])
        case "outbound_smtp_auth_without_tls": outboundAuthWithoutTLS = try OptionReader.bool(option)
        case "cluster_outbound_throttle_messages": clusterThrottleMessages = try OptionReader.rate(option)
        case "cluster_outbound_throttle_connections": clusterThrottleConnections = try OptionReader.rate(option)
        case "use_mta_sts": useMTASTS = try OptionReader.bool(option)
        case "enable_mta_sts": enableMTASTS = try OptionReader.bool(option)
        case "use_dane": useDANE = try OptionReader.bool(option)
        case "enable_dane": enableDANE = try OptionReader.bool(option)
        case "transform_8bitmime_content":
            transform8BitMIME = try OptionReader.choice(
                option, [("no", .no), ("ifneeded", .ifneeded), ("strict", .strict), ("strip", .strip)])
        case "delay_dsn_retry_interval": delayDSNRetryInterval = try OptionReader.integer(option, in: 1...day)
        default: throw ConfigError(option.location, "'\(option.spelling)' is not an outbound option")
        }
    }

    /// This scope's values where it sets them, `fallback`'s elsewhere.
    func over(_ fallback: OutboundOptions) -> OutboundOptions {
        var result = self
        result.retryInterval = retryInterval ?? fallback.retryInterval
        result.maxRetryInterval = maxRetryInterval ?? fallback.maxRetryInterval
        result.maxRetries = maxRetries ?? fallback.maxRetries
        result.messageExpiration = messageExpiration ?? fallback.messageExpiration
        result.neverRetry = neverRetry ?? fallback.neverRetry
        result.generateBounces = generateBounces ?? fallback.generateBounces
        result.bouncesInlineOriginal = bouncesInlineOriginal ?? fallback.bouncesInlineOriginal
        result.mailerDaemon = mailerDaemon ?? fallback.mailerDaemon
        result.maxOutboundConnections = maxOutboundConnections ?? fallback.maxOutboundConnections
        result.serverMaxOutboundConnections = serverMaxOutboundConnections ?? fallback.serverMaxOutboundConnections
        result.maxDeliveriesPerConnection = maxDeliveriesPerConnection ?? fallback.maxDeliveriesPerConnection
        result.maxRecipientsPerBatch = maxRecipientsPerBatch ?? fallback.maxRecipientsPerBatch
        result.connectTimeout = connectTimeout ?? fallback.connectTimeout
        result.ehloTimeout = ehloTimeout ?? fallback.ehloTimeout
        result.mailFromTimeout = mailFromTimeout ?? fallback.mailFromTimeout
        result.rcptToTimeout = rcptToTimeout ?? fallback.rcptToTimeout
        result.bodyTimeout = bodyTimeout ?? fallback.bodyTimeout
        result.idleTimeout = idleTimeout ?? fallback.idleTimeout
        result.remoteSMTPPort = remoteSMTPPort ?? fallback.remoteSMTPPort
        result.tls = tls ?? fallback.tls
        result.bindAddress = bindAddress ?? fallback.bindAddress
        result.ehloHostname = ehloHostname ?? fallback.ehloHostname
        result.gateway = gateway ?? fallback.gateway
        result.routes = routes ?? fallback.routes
        result.suspendDelivery = suspendDelivery ?? fallback.suspendDelivery
        result.opendkimSign = opendkimSign ?? fallback.opendkimSign
        result.outboundThrottleMessages = outboundThrottleMessages ?? fallback.outboundThrottleMessages
        result.outboundThrottleConnections = outboundThrottleConnections ?? fallback.outboundThrottleConnections
        result.adaptiveEnabled = adaptiveEnabled ?? fallback.adaptiveEnabled
        result.tlsVerify = tlsVerify ?? fallback.tlsVerify
        result.generateDelayDSN = generateDelayDSN ?? fallback.generateDelayDSN
        result.deliveryMethod = deliveryMethod ?? fallback.deliveryMethod
        result.lmtpPort = lmtpPort ?? fallback.lmtpPort
        result.outboundAuthUser = outboundAuthUser ?? fallback.outboundAuthUser
        result.outboundAuthPassword = outboundAuthPassword ?? fallback.outboundAuthPassword
        result.outboundAuthType = outboundAuthType ?? fallback.outboundAuthType
        result.outboundAuthKey = outboundAuthKey ?? fallback.outboundAuthKey
        result.outboundAuthWithoutTLS = outboundAuthWithoutTLS ?? fallback.outboundAuthWithoutTLS
        result.transform8BitMIME = transform8BitMIME ?? fallback.transform8BitMIME
        result.clusterThrottleMessages = clusterThrottleMessages ?? fallback.clusterThrottleMessages
        result.clusterThrottleConnections = clusterThrottleConnections ?? fallback.clusterThrottleConnections
        result.useMTASTS = useMTASTS ?? fallback.useMTASTS
        result.enableMTASTS = enableMTASTS ?? fallback.enableMTASTS
        result.useDANE = useDANE ?? fallback.useDANE
        result.enableDANE = enableDANE ?? fallback.enableDANE
        result.delayDSNRetryInterval = delayDSNRetryInterval ?? fallback.delayDSNRetryInterval
        result.tlsCA = tlsCA ?? fallback.tlsCA
        result.tlsCertificate = tlsCertificate ?? fallback.tlsCertificate
        result.tlsKey = tlsKey ?? fallback.tlsKey
        result.tlsCiphers = tlsCiphers ?? fallback.tlsCiphers
        return result
    }
}

/// A fixed next hop: `gateway` or one `routes` entry. `__mx__` (routes) means "the domain's MX".
public struct NextHop: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// nil: the scope's remote_smtp_port.
    public var port: Int?
    /// The `__mx__` route entry: look up the domain's MX as usual.
    public var isMX: Bool { host == "__mx__" }

    public init(host: String, port: Int?) {
        self.host = host
        self.port = port
    }

    /// A Unix socket next hop (`unix:/path`): its path is the host.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// `host`, `host:port`, `1.2.3.4`, `1.2.3.4:25`, `[::1]:25`, `[::1]`, `unix:/path/to/socket`.
    public init?(_ text: String) {
        if text.hasPrefix("unix:/") {
            let path = String(text.dropFirst("unix:".count))
            guard path.utf8.count < 108, !path.contains("\0") else { return nil }
            self.init(host: path, port: nil)
            return
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let address = String(text[text.index(after: text.startIndex)..<close])
            guard IPAddress(address) != nil else { return nil }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                self.init(host: address, port: nil)
                return
            }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            self.init(host: address, port: port)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty, parts.count <= 2,
            first.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" })
        else { return nil }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            self.init(host: String(first), port: port)
        } else {
            self.init(host: String(first), port: nil)
        }
    }

    /// A `routes` entry: a host, IP, `__mx__`, or `smtp://ip?port=N` (other query keys ignored).
    public init?(route text: String) {
        if text == "__mx__" {
            self.init(host: "__mx__", port: nil)
            return
        }
        guard text.lowercased().hasPrefix("smtp://") else {
            self.init(text)
            return
        }
        let body = text.dropFirst("smtp://".count)
        let pieces = body.split(separator: "?", maxSplits: 1)
        guard let hostPart = pieces.first, var hop = NextHop(String(hostPart)) else { return nil }
        if pieces.count == 2 {
            for pair in pieces[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                if keyValue.count == 2, keyValue[0] == "port" {
                    guard let port = Int(keyValue[1]), (1...65535).contains(port) else { return nil }
                    hop.port = port
                }
            }
        }
        self = hop
    }

    public var description: String {
        if isUnixSocket { return "unix:\(host)" }
        let shown = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(shown):\($0)" } ?? shown
    }
}
