/// Puts a message on the wire for DATA (RFC 5321 §4.5.2): every line ends in CRLF — a bare CR
/// or LF becomes CRLF, so none reaches the next hop — a line starting with "." gets another,
/// and `.CRLF` ends it. Runs of ordinary octets are copied whole (this is on the path of every
/// delivered message).
public enum DotStuffedDataEncoder {
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 32 + 8)
        var atLineStart = true
        message.withUnsafeBufferPointer { input in
            let count = input.count
            var index = 0
            while index < count {
                if atLineStart && input[index] == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
                var end = index
                while end < count, input[end] != 0x0D, input[end] != 0x0A { end += 1 }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<end]))
                guard end < count else {
                    atLineStart = false
                    break
                }
                out.append(0x0D)
                out.append(0x0A)
                atLineStart = true
                // CRLF, a bare CR or a bare LF: each ends one line.
                index = input[end] == 0x0D && end + 1 < count && input[end + 1] == 0x0A ? end + 2 : end + 1
            }
        }
        if !atLineStart {
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(UInt8(ascii: "."))
        out.append(0x0D)
        out.append(0x0A)
        return out
    }
}
