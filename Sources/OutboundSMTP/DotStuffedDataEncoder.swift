/// Puts a message on the wire for DATA (RFC 5321 §4.5.2): every line ends in CRLF — a bare CR
/// or LF becomes CRLF, so none reaches the next hop — a line starting with "." gets another,
/// and `.CRLF` ends it. Runs of ordinary octets are copied whole (this is on the path of every
/// delivered message). `Stream` does the same a piece at a time, so a delivery holds one piece
/// of a message in memory, not all of it.
public enum DotStuffedDataEncoder {
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 32 + 8)
        var stream = Stream()
        message.withUnsafeBufferPointer { stream.encode($0, into: &out) }
        stream.finish(into: &out)
        return out
    }

    /// The encoder's state between pieces of one message.
    public struct Stream: Sendable {
        var atLineStart = true
        /// The previous piece ended with a CR (already written as a line end): an LF first in
        /// the next piece belongs to it.
        var pendingCR = false

        public init() {}

        /// Appends the encoding of the next piece of the message to `out`.
        public mutating func encode(_ input: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
            let count = input.count
            var index = 0
            guard count > 0 else { return }
            if pendingCR {
                pendingCR = false
                if input[0] == 0x0A { index = 1 }
            }
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
                if input[end] == 0x0D {
                    if end + 1 == count {
                        pendingCR = true
                        index = end + 1
                    } else {
                        index = input[end + 1] == 0x0A ? end + 2 : end + 1
                    }
                } else {
                    index = end + 1
                }
            }
        }

        /// Ends the message: a CRLF if its last line had none, then `.CRLF`.
        public mutating func finish(into out: inout [UInt8]) {
            if !atLineStart {
                out.append(0x0D)
                out.append(0x0A)
            }
            out.append(UInt8(ascii: "."))
            out.append(0x0D)
            out.append(0x0A)
            atLineStart = true
            pendingCR = false
        }
    }
}
