import SMTPProtocol

/// What to do with commands a client pipelines after STARTTLS (CVE-2011-0411).
public enum StartTLSInjectionPolicy: String, Sendable {
    /// Answer with an error and close the connection, without TLS (Momentum's default).
    case reject
    /// Drop the injected octets and go on with the handshake.
    case ignore
}

/// The inbound settings in force for one client of one listener, after Momentum's fallback:
/// Peer (most specific CIDR) → Listen → ESMTP_Listener → global → built-in default.
public struct InboundPolicy: Sendable {
    public var limits = SMTPLimits()
    /// `listener_sessions`: concurrent sessions on the Listen socket (Peer: per CIDR block). 0 = unlimited.
    public var listenerSessions = 5000
    /// `listener_sessions_per_ip` (Impulse): concurrent sessions from one client address. 0 = unlimited.
    public var listenerSessionsPerIP = 100
    public var bannerHostname: String?
    public var staticBanner: String?
    public var receivedHostname: String?
    public var relayHosts: [CIDRBlock] = []
    public var relayDomains: [DomainPattern] = []
    public var openRelay = false
    /// `context = [ … ]`: connection-context keys seeded for policy.
    public var context: [(key: String, value: String)] = []
    public var startTLSInjectionPolicy: StartTLSInjectionPolicy = .reject
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Where `tls_certificate` was set, for messages about the file.
    public var tlsLocation: SourceLocation?
    public var allowNullEnvelopeSender = true
    /// `rfc2822_lone_lf_in_body`; Impulse refuses bare CR/LF by default (SMTP smuggling).
    public var bareLineEndings: BareLineEndingPolicy = .reject
    /// `rfc2822_trace_headers`: prepend a Received: header.
    public var traceHeaders = true
    /// `postmaster_address` (Impulse): where `RCPT TO:<Postmaster>` (no domain, RFC 5321 §4.5.1)
    /// is delivered; nil means `postmaster@` the server's `hostname`.
    public var postmasterAddress: Mailbox?
    /// `smtp_extensions`: the AUTH mechanisms listed there (with their `Auth…Parameters`) are
    /// offered; the other extensions Impulse offers are always on. docs/smtp-auth.md.
    public var smtpExtensions: [String] = []
    public var authBackends: [SASLMechanism: AuthBackend] = [:]
    /// `enable_authentication`: a client must authenticate before MAIL (530 otherwise), unless
    /// it may relay by address (relay_hosts, open_relay).
    public var authenticationRequired = false
    /// `auth_without_tls` (Impulse): PLAIN and LOGIN, which send the password itself, also on a
    /// connection without TLS. Off: they are offered and accepted only under TLS (538).
    public var authWithoutTLS = false
    /// `proxy_protocol`: connections from clients in this scope (a load balancer) begin with a
    /// HAProxy PROXY header (v1 or v2), whose client address then stands for the connection's.
    public var proxyProtocol = false
    /// `proxy_protocol_timeout`: seconds the whole header may take (Momentum's 0, wait forever,
    /// is refused: a peer must not hold a connection without limit).
    public var proxyProtocolTimeout = 60

    public init() {}

    /// The mechanisms offered, in `smtp_extensions` order: listed there and given credentials.
    public var authMechanisms: [SASLMechanism] {
        smtpExtensions.compactMap { entry in
            guard entry.hasPrefix("AUTH "), let mechanism = SASLMechanism(rawValue: String(entry.dropFirst(5))),
                authBackends[mechanism] != nil
            else { return nil }
            return mechanism
        }
    }

    /// `smtp_extensions` entries Impulse accepts: the extensions it always offers, and AUTH
    /// mechanisms, and XCLIENT. Momentum's XREMOTEIP, XSETCONTEXT, XDUMPCONTEXT and ALWAYS-ALLOW
    /// are not.
    static let alwaysOfferedExtensions: Set<String> = [
        "ENHANCEDSTATUSCODES", "STARTTLS", "PIPELINING", "8BITMIME", "SIZE", "DSN", "CHUNKING", "SMTPUTF8", "XCLIENT"
    ]

    /// `smtp_extensions` lists XCLIENT: clients of this scope (a trusted proxy) may say which
    /// client they speak for (Postfix's XCLIENT).
    public var xclientAllowed: Bool { smtpExtensions.contains("XCLIENT") }

    /// The `Auth…Parameters` option of a mechanism.
    static let authParameterOptions: [String: SASLMechanism] = [
        "authloginparameters": .login, "authplainparameters": .plain, "authcrammd5parameters": .cramMD5
    ]

    /// Option names this struct understands (the scopes that may hold them are checked by the loader).
    public static let optionNames: Set<String> = [
        "idle_time", "data_timeout", "listener_sessions", "listener_sessions_per_ip", "max_message_size",
        "max_recipients_per_message", "max_receptions_per_connection", "max_errors_per_session",
        "max_command_line_length", "max_text_line_length", "max_path_length", "banner_hostname", "static_banner",
        "received_hostname", "relay_hosts", "relay_domains", "open_relay", "context", "starttls_injection_policy",
        "tls_certificate", "tls_key", "allow_null_envelope_sender", "rfc2822_lone_lf_in_body", "rfc2822_trace_headers",
        "postmaster_address", "max_commands_per_session", "max_session_duration", "tls_handshake_timeout",
        "close_timeout", "max_received_headers", "max_header_size", "max_header_fields", "smtp_extensions",
        "authloginparameters", "authplainparameters", "authcrammd5parameters", "authdigestmd5parameters",
        "enable_authentication", "auth_without_tls", "proxy_protocol", "proxy_protocol_timeout"
    ]

    /// Applies one option on top of what is already set (a more specific scope replaces, never merges).
    public mutating func apply(_ option: ConfigOption) throws(ConfigError) {
        switch option.name {
        case "idle_time":
            // Momentum: 0 = never reap. Impulse keeps every peer-controlled time bounded, so 0 is refused.
            limits.commandTimeout = Int64(try OptionReader.integer(option, in: 1...86400))
        case "data_timeout":
            limits.dataTimeout = Int64(try OptionReader.integer(option, in: 1...86400))
        case "listener_sessions":
            listenerSessions = try OptionReader.integer(option, in: 0...1_000_000)
        case "listener_sessions_per_ip":
            listenerSessionsPerIP = try OptionReader.integer(option, in: 0...1_000_000)
        case "max_message_size":
            // Momentum's 0 (unlimited) becomes the largest size Impulse will hold: 2 GiB.
            let size = try OptionReader.integer(option, in: 0...Int(Int32.max))
            limits.maxMessageSize = size == 0 ? Int(Int32.max) : size
        case "max_recipients_per_message":
            let count = try OptionReader.integer(option, in: 0...1_000_000)
            if count != 0 && count < 100 {
                throw ConfigError(
                    option.value.location,
                    """
                    '\(option.spelling)' must be at least 100 (RFC 5321 §4.5.3.1.8), or 0 for the built-in ceiling \
                    of 100000
                    """
                )
            }
            limits.maxRecipientsPerMessage = count == 0 ? 100_000 : count
        case "max_receptions_per_connection":
            limits.maxReceptionsPerConnection = try OptionReader.integer(option, in: 0...Int(Int32.max))
        case "max_errors_per_session":
            limits.maxErrorsPerSession = try OptionReader.integer(option, in: 1...10_000)
        case "max_command_line_length":
            limits.maxCommandLineLength = try OptionReader.integer(option, in: 512...65536)
        case "max_text_line_length":
            limits.maxTextLineLength = try OptionReader.integer(option, in: 1000...1_048_576)
        case "max_path_length":
            limits.maxPathLength = try OptionReader.integer(option, in: 256...4096)
        case "banner_hostname":
            bannerHostname = try OptionReader.scalar(option)
        case "static_banner":
            let banner = try OptionReader.scalar(option)
            guard banner.hasPrefix("220 ") else {
                throw ConfigError(option.value.location, "'\(option.spelling)' must begin with \"220 \"")
            }
            staticBanner = banner
        case "received_hostname":
            receivedHostname = try OptionReader.scalar(option)
        case "smtp_extensions":
            var extensions: [String] = []
            for (text, location) in try OptionReader.list(option) {
                let entry = text.uppercased().split(separator: " ", omittingEmptySubsequences: true).joined(
                    separator: " ")
                if entry.hasPrefix("AUTH ") {
                    guard SASLMechanism(rawValue: String(entry.dropFirst(5))) != nil else {
                        throw ConfigError(
                            location,
                            "'\(text)' in '\(option.spelling)': Impulse offers AUTH PLAIN, AUTH LOGIN and AUTH CRAM-MD5 "
                                + "(DIGEST-MD5 is obsolete, RFC 6331)")
                    }
                } else if !Self.alwaysOfferedExtensions.contains(entry) {
                    throw ConfigError(
                        location, "'\(text)' in '\(option.spelling)' is not supported yet (docs/smtp-auth.md)")
                }
                extensions.append(entry)
            }
            smtpExtensions = extensions
        case "authloginparameters", "authplainparameters", "authcrammd5parameters":
            authBackends[Self.authParameterOptions[option.name]!] = try AuthBackend.parse(option)
        case "authdigestmd5parameters":
            throw ConfigError(
                option.location, "'\(option.spelling)': DIGEST-MD5 is not supported (obsolete, RFC 6331)")
        case "enable_authentication":
            authenticationRequired = try OptionReader.bool(option)
        case "auth_without_tls":
            authWithoutTLS = try OptionReader.bool(option)
        case "proxy_protocol":
            proxyProtocol = try OptionReader.bool(option)
        case "proxy_protocol_timeout":
            proxyProtocolTimeout = try OptionReader.integer(option, in: 1...3600)
        case "relay_hosts":
            relayHosts = try OptionReader.cidrList(option)
        case "relay_domains":
            relayDomains = try OptionReader.list(option).map { DomainPattern($0.0) }
        case "open_relay":
            openRelay = try OptionReader.bool(option)
        case "context":
            context = try OptionReader.dictionary(option).map { (key: $0.0, value: $0.1) }
        case "starttls_injection_policy":
            let text = try OptionReader.scalar(option).lowercased()
            if text == "allow" {
                throw ConfigError(
                    option.value.location,
                    """
                    '\(option.spelling) = allow' is not supported: Impulse never executes commands sent before the \
                    TLS handshake (CVE-2011-0411); use reject or ignore
                    """
                )
            }
            startTLSInjectionPolicy = try OptionReader.choice(option, [("reject", .reject), ("ignore", .ignore)])
        case "tls_certificate":
            let text = try OptionReader.scalar(option)
            tlsCertificate = text.lowercased() == "none" ? nil : try OptionReader.path(option)
            tlsLocation = option.location
        case "tls_key":
            tlsKey = try OptionReader.path(option)
        case "allow_null_envelope_sender":
            allowNullEnvelopeSender = try OptionReader.bool(option)
        case "rfc2822_lone_lf_in_body":
            bareLineEndings = try OptionReader.choice(
                option, [("pedantic", .reject), ("fix", .normalize), ("ignore", .accept)])
        case "rfc2822_trace_headers":
            traceHeaders = try OptionReader.bool(option)
        case "postmaster_address":
            let text = try OptionReader.scalar(option)
            guard
                let address = try? MailPathParser(limits: limits, allowUTF8: true).parseForwardPath(
                    Substring("<\(text)>")), !address.domain.isEmpty
            else {
                throw ConfigError(option.value.location, "'\(option.spelling)' must be an address, local@domain")
            }
            postmasterAddress = address
        case "max_commands_per_session":
            limits.maxCommandsPerSession = try OptionReader.integer(option, in: 0...Int(Int32.max))
        case "max_session_duration":
            limits.maxSessionDuration = Int64(try OptionReader.integer(option, in: 0...604_800))
        case "tls_handshake_timeout":
            limits.tlsHandshakeTimeout = Int64(try OptionReader.integer(option, in: 1...3600))
        case "close_timeout":
            limits.closeTimeout = Int64(try OptionReader.integer(option, in: 1...3600))
        case "max_received_headers":
            limits.maxReceivedHeaders = try OptionReader.integer(option, in: 1...1000)
        case "max_header_size":
            limits.maxHeaderSectionSize = try OptionReader.integer(option, in: 1024...Int(Int32.max))
        case "max_header_fields":
            limits.maxHeaderFields = try OptionReader.integer(option, in: 10...10_000_000)
        default:
            throw ConfigError(option.location, "internal: '\(option.spelling)' is not an inbound option")
        }
    }

    /// True when this client may relay to any domain (`relay_hosts`, or `open_relay` in its scope).
    public func clientMayRelay(_ address: IPAddress) -> Bool {
        openRelay || relayHosts.contains { $0.contains(address) }
    }

    /// True when a recipient in this domain is accepted from anyone (`relay_domains`).
    public func acceptsDomain(_ domain: String) -> Bool {
        relayDomains.contains { $0.matches(domain) }
    }
}
