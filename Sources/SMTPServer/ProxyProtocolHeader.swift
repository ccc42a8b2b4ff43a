import ImpulseConfig

/// The HAProxy PROXY protocol header a load balancer sends before anything else (HAProxy's
/// "The PROXY protocol" versions 1 and 2): where the real client connected from. Parsed from the
/// first octets of a connection; handles untrusted input — a header is at most 107 octets (v1)
/// or 16 + 1024 (v2; longer TLV sections are refused), and anything else is invalid.
enum ProxyProtocolHeader: Equatable {
    /// More octets are needed.
    case incomplete
    /// The header is `length` octets long and says the client is `client` (nil: the proxy speaks
    /// for itself — v1 `UNKNOWN`, v2 `LOCAL`, or an address family other than TCP over IPv4/6).
    case header(length: Int, client: (address: IPAddress, port: Int)?)
    case invalid(String)

    static func == (lhs: ProxyProtocolHeader, rhs: ProxyProtocolHeader) -> Bool {
        switch (lhs, rhs) {
        case (.incomplete, .incomplete): return true
        case (.invalid(let a), .invalid(let b)): return a == b
        case (.header(let a, let x), .header(let b, let y)):
            return a == b && x?.address == y?.address && x?.port == y?.port
        default: return false
        }
    }

    /// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let maxV1 = 107
    static let maxV2Payload = 1024

    static func parse(_ octets: some Collection<UInt8>) -> ProxyProtocolHeader {
        let bytes = Array(octets.prefix(16 + maxV2Payload))
        if bytes.first == 0x0D { return parseV2(bytes) }
        if bytes.first == UInt8(ascii: "P") { return parseV1(bytes) }
        return bytes.isEmpty ? .incomplete : .invalid("no PROXY header")
    }

    /// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN …\r\n`.
    static func parseV1(_ bytes: [UInt8]) -> ProxyProtocolHeader {
        let prefix = Array("PROXY ".utf8)
        let known = min(bytes.count, prefix.count)
        guard bytes.prefix(known).elementsEqual(prefix.prefix(known)) else { return .invalid("not a PROXY header") }
        guard let lf = bytes.prefix(maxV1).firstIndex(of: 0x0A) else {
            return bytes.count >= maxV1 ? .invalid("PROXY v1 header longer than 107 octets") : .incomplete
        }
        guard lf > 0, bytes[lf - 1] == 0x0D else { return .invalid("PROXY v1 header not ended by CRLF") }
        guard let line = String(validating: bytes[..<(lf - 1)], as: UTF8.self) else {
            return .invalid("PROXY v1 header is not text")
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 2, fields[0] == "PROXY" else { return .invalid("malformed PROXY v1 header") }
        if fields[1] == "UNKNOWN" { return .header(length: lf + 1, client: nil) }
        guard fields.count == 6, fields[1] == "TCP4" || fields[1] == "TCP6", let source = IPAddress(fields[2]),
            IPAddress(fields[3]) != nil, source.isIPv4 == (fields[1] == "TCP4"), let port = Self.port(fields[4]),
            Self.port(fields[5]) != nil
        else { return .invalid("malformed PROXY v1 header") }
        return .header(length: lf + 1, client: (source, port))
    }

    static func port(_ text: String) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            !(text.utf8.count > 1 && text.hasPrefix("0")), let value = Int(text), value <= 65535
        else { return nil }
        return value
    }

    static func parseV2(_ bytes: [UInt8]) -> ProxyProtocolHeader {
        let known = min(bytes.count, signature.count)
        guard bytes.prefix(known).elementsEqual(signature.prefix(known)) else { return .invalid("not a PROXY header") }
        guard bytes.count >= 16 else { return .incomplete }
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2, versionCommand & 0x0F <= 1 else {
            return .invalid("unsupported PROXY v2 version or command")
        }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard length <= maxV2Payload else { return .invalid("PROXY v2 header longer than \(maxV2Payload) octets") }
        guard bytes.count >= 16 + length else { return .incomplete }
        let total = 16 + length
        // LOCAL: the proxy's own connection (a health check).
        if versionCommand & 0x0F == 0 { return .header(length: total, client: nil) }
        let payload = bytes[16..<total]
        switch bytes[13] {
        case 0x11: // TCP over IPv4: src, dst (4 each), sport, dport
            guard length >= 12 else { return .invalid("short PROXY v2 IPv4 addresses") }
            let source = payload.prefix(4).map(String.init).joined(separator: ".")
            let port = Int(payload[payload.startIndex + 8]) << 8 | Int(payload[payload.startIndex + 9])
            guard let address = IPAddress(source) else { return .invalid("bad PROXY v2 address") }
            return .header(length: total, client: (address, port))
        case 0x21: // TCP over IPv6: src, dst (16 each), sport, dport
            guard length >= 36 else { return .invalid("short PROXY v2 IPv6 addresses") }
            let octets = Array(payload.prefix(16))
            let groups = stride(from: 0, to: 16, by: 2).map {
                String(Int(octets[$0]) << 8 | Int(octets[$0 + 1]), radix: 16)
            }
            let port = Int(payload[payload.startIndex + 32]) << 8 | Int(payload[payload.startIndex + 33])
            guard let address = IPAddress(groups.joined(separator: ":")) else {
                return .invalid("bad PROXY v2 address")
            }
            return .header(length: total, client: (address, port))
        default:
            // UNSPEC, UDP or Unix sockets: the connection's own address stands.
            return .header(length: total, client: nil)
        }
    }
}
