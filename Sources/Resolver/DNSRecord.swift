/// DNS record types Impulse looks up (RFC 1035 §3.2.2, RFC 3596).
public enum DNSRecordType: String, Sendable, CaseIterable {
    case a = "A", aaaa = "AAAA", mx = "MX", txt = "TXT", ptr = "PTR", ns = "NS", tlsa = "TLSA"

    /// The type's number on the wire.
    public var code: UInt16 {
        switch self {
        case .a: return 1
        case .ns: return 2
        case .ptr: return 12
        case .mx: return 15
        case .txt: return 16
        case .aaaa: return 28
        case .tlsa: return 52
        }
    }
}

/// One answer: MX answers carry their preference. TLSA answers (RFC 6698) read
/// `usage selector matching-type hex-data`.
public struct DNSRecord: Sendable, Equatable {
    public var value: String
    public var preference: Int?
    /// DNSSEC validated the answer (libunbound's "secure": a trust anchor is configured and the
    /// chain to it holds). False without trust anchors.
    public var secure = false

    public init(value: String, preference: Int? = nil, secure: Bool = false) {
        self.value = value
        self.preference = preference
        self.secure = secure
    }
}

/// Why a lookup found nothing, as Momentum's msys.dnsLookup reports it.
public enum DNSLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    case nxdomain
    case noData
    case serverFailure(String)
    case badAnswer(String)

    public var description: String {
        switch self {
        case .nxdomain: return "NXDOMAIN"
        case .noData: return "NODATA"
        case .serverFailure(let reason): return "SERVFAIL: \(reason)"
        case .badAnswer(let reason): return "bad answer: \(reason)"
        }
    }
}
