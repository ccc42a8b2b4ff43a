/// An MTA-STS policy (RFC 8461 §3.2): what a domain publishes at
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` — its mode, the MX host patterns mail may
/// go to, and how long the policy may be cached.
public struct MTASTSPolicy: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable {
        /// Deliver only to matching MX hosts over TLS with a valid certificate.
        case enforce
        /// Deliver as usual; report what enforcing would have refused (TLS-RPT).
        case testing
        /// No policy.
        case none
    }

    public var mode: Mode
    /// `mx` patterns, lower-cased: a host name, or `*.example.net` (one leftmost label).
    public var mx: [String]
    /// Seconds the policy may be cached (at most a year, RFC 8461 §3.2).
    public var maxAge: Int

    /// The longest policy body read (RFC 8461 §3.3 suggests a 64 KiB limit).
    public static let maxBodySize = 64 * 1024
    public static let maxAgeLimit = 31_557_600

    /// Reads a policy body; nil and a reason when it is not a valid STSv1 policy.
    public static func parse(_ text: String) -> Result<MTASTSPolicy, PolicyError> {
        var version: String?
        var mode: Mode?
        var mx: [String] = []
        var maxAge: Int?
        // CRLF is one Character in Swift: split on every kind of line end.
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else {
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                return .failure(PolicyError("line '\(line.prefix(80))' is not 'key: value'"))
            }
            let key = line[..<colon].trimmingBlanks()
            let value = line[line.index(after: colon)...].trimmingBlanks()
            switch key {
            case "version": version = value
            case "mode":
                guard let parsed = Mode(rawValue: value) else {
                    return .failure(PolicyError("mode '\(value.prefix(40))' is not enforce, testing or none"))
                }
                mode = parsed
            case "mx":
                guard !value.isEmpty, value.count <= 253 else { return .failure(PolicyError("an empty or long mx")) }
                mx.append(value.lowercased())
            case "max_age":
                guard let seconds = Int(value), seconds >= 0 else {
                    return .failure(PolicyError("max_age '\(value.prefix(20))' is not a number of seconds"))
                }
                maxAge = min(seconds, maxAgeLimit)
            default: continue // unknown fields are ignored (RFC 8461 §3.2)
            }
        }
        guard version == "STSv1" else { return .failure(PolicyError("version is not STSv1")) }
        guard let mode else { return .failure(PolicyError("no mode")) }
        guard let maxAge else { return .failure(PolicyError("no max_age")) }
        if mode != .none && mx.isEmpty { return .failure(PolicyError("no mx")) }
        return .success(MTASTSPolicy(mode: mode, mx: Array(mx.prefix(100)), maxAge: maxAge))
    }

    /// Whether MX host `host` is one the policy names (RFC 8461 §4.1: `*.` matches exactly one
    /// leftmost label).
    public func allows(_ host: String) -> Bool {
        let host = host.lowercased().hasSuffix(".") ? String(host.lowercased().dropLast()) : host.lowercased()
        for pattern in mx {
            if pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)
                if host.hasSuffix(suffix), !host.dropLast(suffix.count).contains("."), host.count > suffix.count {
                    return true
                }
            } else if host == pattern {
                return true
            }
        }
        return false
    }

    /// Why a policy could not be used.
    public struct PolicyError: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

extension Substring {
    /// Without the spaces and tabs around it.
    func trimmingBlanks() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
