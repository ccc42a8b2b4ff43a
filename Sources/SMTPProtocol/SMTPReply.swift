import NIOCore

/// One SMTP reply: a three-digit code, an optional RFC 3463 enhanced status code and text lines.
///
/// Replies are written per RFC 5321 §4.2 (<https://www.rfc-editor.org/rfc/rfc5321#section-4.2>):
/// `code-text` on every line but the last, `code SP text` on the last. The enhanced status code
/// (RFC 2034, <https://www.rfc-editor.org/rfc/rfc2034>) prefixes the text of every line.
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var enhancedCode: String?
    public var lines: [String]

    public init(_ code: Int, _ enhancedCode: String?, _ lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    public init(_ code: Int, _ enhancedCode: String?, _ text: String) {
        self.init(code, enhancedCode, [text])
    }

    /// True for 4xx and 5xx replies.
    public var isFailure: Bool { code >= 400 }
    public var isPermanentFailure: Bool { code >= 500 }

    /// Serialises the reply with CRLF line ends.
    public func write(into buffer: inout ByteBuffer) {
        for (index, line) in lines.enumerated() {
            buffer.writeString(String(code))
            buffer.writeInteger(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            if let enhancedCode {
                buffer.writeString(enhancedCode)
                if !line.isEmpty { buffer.writeInteger(UInt8(ascii: " ")) }
            }
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\r"))
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
    }

    public var description: String {
        var buffer = ByteBuffer()
        write(into: &buffer)
        return String(buffer: buffer)
    }
}
