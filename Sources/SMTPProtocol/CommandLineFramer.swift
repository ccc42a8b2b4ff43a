import NIOCore

/// Splits command-mode input into lines. Only CRLF ends a line (RFC 5321 §2.3.8); a bare CR or LF
/// stays inside the line, where the command parser rejects it. Memory is bounded by the limit:
/// an over-long line is discarded up to its CRLF and reported once.
public struct CommandLineFramer: Sendable {
    public enum Output: Equatable, Sendable {
        /// A complete line, CRLF removed.
        case line(ByteBuffer)
        /// A line longer than the limit (CRLF included) was discarded; reply once.
        case tooLong
    }

    public var maxLineLength: Int
    private var discarding = false

    public init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
    }

    /// Returns the next line, or nil when more input is needed. Consumes what it returns.
    public mutating func next(_ buffer: inout ByteBuffer) -> Output? {
        let view = buffer.readableBytesView
        var searchStart = view.startIndex
        while let lf = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) {
            if lf > view.startIndex, view[lf - 1] == UInt8(ascii: "\r") {
                let length = lf - view.startIndex + 1
                if discarding || length > maxLineLength {
                    discarding = false
                    buffer.moveReaderIndex(forwardBy: length)
                    return .tooLong
                }
                let line = buffer.getSlice(at: buffer.readerIndex, length: length - 2)!
                buffer.moveReaderIndex(forwardBy: length)
                return .line(line)
            }
            searchStart = lf + 1
        }
        // No CRLF yet. Keep at most a trailing CR when discarding or when over the limit.
        if discarding || buffer.readableBytes >= maxLineLength {
            discarding = true
            let keep = view.last == UInt8(ascii: "\r") ? 1 : 0
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes - keep)
        }
        return nil
    }
}
