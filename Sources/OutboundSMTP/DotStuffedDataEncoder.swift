/// Puts a message on the wire for DATA (RFC 5321 §4.5.2): every line ends in CRLF — a bare CR
/// or LF becomes CRLF, so none reaches the next hop — a line starting with "." gets another,
/// and `.CRLF` ends it.
public enum DotStuffedDataEncoder {
    public static func encode(_ message: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 64 + 8)
        var atLineStart = true
        var previousCR = false
        for byte in message {
            if previousCR {
                previousCR = false
                if byte == 0x0A { continue }  // CRLF already written
            }
            switch byte {
            case 0x0D:
                out += [0x0D, 0x0A]
                atLineStart = true
                previousCR = true
            case 0x0A:
                out += [0x0D, 0x0A]
                atLineStart = true
            default:
                if atLineStart && byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
                out.append(byte)
                atLineStart = false
            }
        }
        if !atLineStart { out += [0x0D, 0x0A] }
        out += [UInt8(ascii: "."), 0x0D, 0x0A]
        return out
    }
}
