/// A reply from the next hop (RFC 5321 §4.2): a code, an optional enhanced status code
/// (RFC 3463) from the first line, and the text lines.
public struct SMTPServerReply: Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var enhancedCode: String?
    public var lines: [String]

    public init(code: Int, enhancedCode: String? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines
    }

    public var isPositive: Bool { (200..<400).contains(code) }
    public var isTransient: Bool { (400..<500).contains(code) }
    public var isPermanent: Bool { code >= 500 }

    /// `code text` of the first line, as logs and DSNs quote it.
    public var description: String { "\(code) " + (lines.first ?? "") }
}

/// Assembles replies from lines (`250-…` continued, `250 …` final). Bounded: a reply of more
/// than `maxLines` lines, a line longer than `maxLineLength`, a missing or changing code is a
/// protocol error (the connection is given up, the attempt is a temporary failure).
public struct SMTPReplyParser: Sendable {
    public struct ProtocolError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public var maxLines = 1000
    public var maxLineLength = 4096
    private var code: Int?
    private var lines: [String] = []

    public init() {}

    /// Feeds one line (without CRLF); a reply when it was the last line.
    public mutating func feed(_ line: Substring) throws(ProtocolError) -> SMTPServerReply? {
        guard line.utf8.count <= maxLineLength else {
            throw ProtocolError(description: "reply line longer than \(maxLineLength) octets")
        }
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = Int(String(line.prefix(3))),
            (200...599).contains(value)
        else {
            throw ProtocolError(description: "not an SMTP reply: \(line.prefix(60))")
        }
        let separator = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw ProtocolError(description: "not an SMTP reply: \(line.prefix(60))")
        }
        if let code, code != value {
            throw ProtocolError(description: "reply code changed from \(code) to \(value) within a reply")
        }
        code = value
        lines.append(bytes.count > 4 ? String(line.dropFirst(4)) : "")
        guard lines.count <= maxLines else { throw ProtocolError(description: "reply longer than \(maxLines) lines") }
        guard separator == UInt8(ascii: " ") else { return nil }
        defer {
            code = nil
            lines = []
        }
        return SMTPServerReply(code: value, enhancedCode: Self.enhancedCode(lines[0], code: value), lines: lines)
    }

    /// `x.y.z` at the start of the text when its class matches the reply's (RFC 3463 §2).
    static func enhancedCode(_ text: String, code: Int) -> String? {
        guard let first = text.split(separator: " ").first else { return nil }
        let parts = first.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }),
            parts[0] == Substring("\(code / 100)")
        else { return nil }
        return String(first)
    }
}
