import ImpulseConfig
import NIOSSL

/// What a policy's `core_get_outbound_tls_parameters(msg, params)` hook chose for one outbound
/// connection (`params.use_tls`, and `msys.tls_params.set(params, key, value)` for `certfile`,
/// `keyfile`, `ca` and `cipherlist`), overriding the configuration for that connection
/// (docs/delivery.md, TLS).
public struct OutboundTLSParameters: Sendable, Equatable {
    /// 0 = no TLS, 1 = if available, 2 = required.
    public var useTLS: Int?
    /// A client certificate (PEM) and its key, for mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    /// The CA certificates (PEM) the next hop's certificate must chain to; given, the
    /// certificate and the next hop's host name are verified (RFC 6125).
    public var caFile: String?
    /// OpenSSL cipher list.
    public var cipherList: String?
    /// What is checked of the next hop's certificate (`tls_verify`); a policy's CA means `host`.
    public var verify = OutboundOptions.TLSVerify.no

    public init() {}

    /// The configuration's parameters (`tls_verify`, `tls_ca`, `tls_certificate`, `tls_key`,
    /// `tls_ciphers`), with what a policy chose over them.
    public init(configured options: ResolvedOutboundOptions, policy: OutboundTLSParameters?) {
        verify = options.tlsVerify
        caFile = options.tlsCA
        certificateFile = options.tlsCertificate
        keyFile = options.tlsKey
        cipherList = options.tlsCiphers
        guard let policy else { return }
        useTLS = policy.useTLS
        if let ca = policy.caFile {
            caFile = ca
            verify = .host
        }
        if let certificate = policy.certificateFile {
            certificateFile = certificate
            keyFile = policy.keyFile
        }
        if let ciphers = policy.cipherList { cipherList = ciphers }
    }

    /// Whether the next hop's certificate must name the host it was reached as.
    public var verifiesHost: Bool { verify == .host }

    /// Reads the hook's `params` table (its string values).
    public init(_ values: [String: String]) {
        useTLS = values["use_tls"].flatMap { Int($0) }.map { min(max($0, 0), 2) }
        certificateFile = values["certfile"].flatMap { $0.isEmpty ? nil : $0 }
        keyFile = values["keyfile"].flatMap { $0.isEmpty ? nil : $0 }
        caFile = values["ca"].flatMap { $0.isEmpty ? nil : $0 }
        cipherList = values["cipherlist"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The client TLS configuration for a STARTTLS to a next hop: with `tls_verify = no` (or
    /// `optional`) certificates are not verified (opportunistic TLS, RFC 7435); `ca` verifies the
    /// chain to the CA file (else the system's roots); `host` also the host name (RFC 6125). A
    /// file that cannot be read is an error (the attempt fails temporarily).
    public func clientConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch verify {
        case .no, .optional: tls.certificateVerification = .none
        case .ca: tls.certificateVerification = .noHostnameVerification
        case .host: tls.certificateVerification = .fullVerification
        }
        if let caFile, verify == .ca || verify == .host {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        if let certificateFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile ?? certificateFile, format: .pem))
        }
        if let cipherList { tls.cipherSuites = cipherList }
        return tls
    }
}
