import NIOCore

/// The line rules DATA's decoder applies as it reads (RFC 5321 §2.3.8 line ends, §4.5.3.1.6 line
/// length), applied to content that arrived another way: BDAT chunks (RFC 3030) carry octets
/// without framing, so they are checked once the last chunk is in.
public struct MessageLineCheck: Sendable, Equatable {
    public var sawBareCR = false
    public var sawBareLF = false
    public var sawLongLine = false

    /// `maxLineLength` counts the CRLF, as `SMTPLimits.maxTextLineLength` does.
    public init<Octets: Collection<UInt8>>(_ message: Octets, maxLineLength: Int) {
        var lineLength = 0
        var previousWasCR = false
        for octet in message {
            if previousWasCR && octet != 0x0A { sawBareCR = true }
            if octet == 0x0A {
                if !previousWasCR { sawBareLF = true }
                if lineLength + 1 > maxLineLength { sawLongLine = true }
                lineLength = 0
            } else {
                lineLength += 1
            }
            previousWasCR = octet == 0x0D
        }
        if previousWasCR { sawBareCR = true }
        if lineLength > maxLineLength { sawLongLine = true }
    }

    /// The message with each bare CR or LF rewritten as CRLF, as DATA's decoder stores it under
    /// `rfc2822_lone_lf_in_body = fix` (a CR right before an LF is part of that CRLF).
    public static func normalizingLineEnds(_ message: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(message.readableBytes + message.readableBytes / 64 + 2)
        let octets = message.readableBytesView
        var index = octets.startIndex
        while index < octets.endIndex {
            let octet = octets[index]
            let next = octets.index(after: index)
            if octet == 0x0D {
                out.writeStaticString("\r\n")
                index = next < octets.endIndex && octets[next] == 0x0A ? octets.index(after: next) : next
            } else if octet == 0x0A {
                out.writeStaticString("\r\n")
                index = next
            } else {
                var end = next
                while end < octets.endIndex && octets[end] != 0x0D && octets[end] != 0x0A {
                    end = octets.index(after: end)
                }
                out.writeBytes(octets[index..<end])
                index = end
            }
        }
        return out
    }
}
