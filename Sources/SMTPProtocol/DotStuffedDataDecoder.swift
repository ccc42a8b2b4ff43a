import NIOCore

/// What to do with a CR or LF that is not part of a CRLF pair in message data.
public enum BareLineEndingPolicy: String, Sendable, Equatable {
    /// Refuse the message (Momentum's `pedantic`; Impulse's default).
    case reject = "pedantic"
    /// Rewrite each bare CR or LF as CRLF (Momentum's `fix`).
    case normalize = "fix"
    /// Keep the octet as it came (Momentum's `ignore`).
    case accept = "ignore"
}

/// Decodes DATA content (RFC 5321 §4.1.1.4, §4.5.2): undoes dot-stuffing and finds the end of
/// data. Only `CRLF "." CRLF` ends the data — a bare CR or LF never starts or ends a line — so
/// one DATA can never yield two messages (SMTP smuggling).
///
/// Handles untrusted network input. Memory is bounded: past `maxMessageSize` octets nothing more
/// is stored, but the input is still consumed up to the end marker so the session stays in sync.
public struct DotStuffedDataDecoder: Sendable {
    public struct Result: Sendable, Equatable {
        /// Octets of message content after unstuffing (also counted past the size limit).
        public var size: Int
        public var exceededSize: Bool
        public var sawBareCR: Bool
        public var sawBareLF: Bool
        public var sawLongLine: Bool
        /// Storing was abandoned (the server's memory budget ran out); the content is incomplete.
        public var abandoned = false

        public init(
            size: Int, exceededSize: Bool, sawBareCR: Bool, sawBareLF: Bool, sawLongLine: Bool, abandoned: Bool = false
        ) {
            self.abandoned = abandoned
            self.size = size
            self.exceededSize = exceededSize
            self.sawBareCR = sawBareCR
            self.sawBareLF = sawBareLF
            self.sawLongLine = sawLongLine
        }
    }

    private enum State: Sendable {
        case lineStart, dot, dotCR, inLine, carriageReturn
    }

    public let maxMessageSize: Int
    public let maxLineLength: Int
    public let policy: BareLineEndingPolicy
    /// The decoded message, up to `maxMessageSize` octets.
    public private(set) var message: ByteBuffer
    private var state: State = .lineStart
    private var lineLength = 0
    private var result = Result(size: 0, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false)

    public init(
        maxMessageSize: Int, maxLineLength: Int, policy: BareLineEndingPolicy, initialBuffer: ByteBuffer = ByteBuffer()
    ) {
        self.maxMessageSize = maxMessageSize
        self.maxLineLength = maxLineLength
        self.policy = policy
        self.message = initialBuffer
    }

    /// Stops storing content (and frees what was stored); framing goes on to the end marker.
    public mutating func abandon() {
        result.abandoned = true
        message = ByteBuffer()
    }

    /// Consumes input. Returns the result once the end marker was consumed, nil if more is needed.
    /// Bytes after the end marker are left in `buffer`.
    public mutating func decode(_ buffer: inout ByteBuffer) -> Result? {
        // Work on locals: the loop runs per octet and must not pay for access checks on `self`.
        var sink = Sink(
            message: message, result: result, maxMessageSize: maxMessageSize, maxLineLength: maxLineLength,
            policy: policy, lineLength: lineLength)
        message = ByteBuffer()
        var state = self.state
        var finished = false
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                switch state {
                case .lineStart:
                    sink.lineLength = 1
                    index += 1
                    switch byte {
                    case UInt8(ascii: "."): state = .dot
                    case UInt8(ascii: "\r"): state = .carriageReturn
                    case UInt8(ascii: "\n"):
                        state = .inLine
                        sink.bareLF()
                    default:
                        sink.append(byte)
                        state = .inLine
                    }
                case .dot:
                    sink.lineLength += 1
                    index += 1
                    switch byte {
                    case UInt8(ascii: "\r"): state = .dotCR
                    // The leading dot was transparency padding (RFC 5321 §4.5.2): drop it.
                    case UInt8(ascii: "\n"):
                        state = .inLine
                        sink.bareLF()
                    default:
                        sink.append(byte)
                        state = .inLine
                    }
                case .dotCR:
                    if byte == UInt8(ascii: "\n") {
                        index += 1
                        finished = true
                        return index
                    }
                    // ".<CR>x": the dot is padding, the CR is bare; x is read again in line state.
                    state = .inLine
                    sink.bareCR()
                case .inLine:
                    // Copy a run in one go: ordinary octets, and whole CRLF line ends as long as the
                    // next line does not start with "." or a CR/LF (and is already in the buffer).
                    // Anything else stops the run and is handled octet by octet below.
                    var end = index
                    var lineLength = sink.lineLength
                    while end < count {
                        // Eight octets at a time while none is a CR or LF (the "has a zero byte" test
                        // on the word XOR the CR and LF patterns).
                        while end + 8 <= count, let base = bytes.baseAddress {
                            let word = base.loadUnaligned(fromByteOffset: end, as: UInt64.self)
                            let cr = word ^ 0x0D0D_0D0D_0D0D_0D0D
                            let lf = word ^ 0x0A0A_0A0A_0A0A_0A0A
                            let zero = ((cr &- 0x0101_0101_0101_0101) & ~cr) | ((lf &- 0x0101_0101_0101_0101) & ~lf)
                            if zero & 0x8080_8080_8080_8080 != 0 { break }
                            end += 8
                            lineLength += 8
                        }
                        guard end < count else { break }
                        let octet = bytes[end]
                        if octet != UInt8(ascii: "\r") && octet != UInt8(ascii: "\n") {
                            end += 1
                            lineLength += 1
                            continue
                        }
                        guard octet == UInt8(ascii: "\r"), end + 2 < count, bytes[end + 1] == UInt8(ascii: "\n") else {
                            break
                        }
                        let next = bytes[end + 2]
                        guard next != UInt8(ascii: "."), next != UInt8(ascii: "\r"), next != UInt8(ascii: "\n") else {
                            break
                        }
                        if lineLength + 2 > sink.maxLineLength { sink.result.sawLongLine = true }
                        lineLength = 0
                        end += 2
                    }
                    if end > index {
                        sink.append(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                        sink.lineLength = lineLength
                        index = end
                        continue
                    }
                    sink.lineLength += 1
                    index += 1
                    if byte == UInt8(ascii: "\r") { state = .carriageReturn } else { sink.bareLF() }
                case .carriageReturn:
                    if byte == UInt8(ascii: "\n") {
                        index += 1
                        sink.lineLength += 1
                        if sink.lineLength > sink.maxLineLength { sink.result.sawLongLine = true }
                        sink.appendCRLF()
                        state = .lineStart
                    } else {
                        // The pending CR was bare; this byte (possibly another CR) is read again in line state.
                        state = .inLine
                        sink.bareCR()
                    }
                }
            }
            return index
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if sink.lineLength > maxLineLength { sink.result.sawLongLine = true }
        self.state = state
        self.lineLength = sink.lineLength
        self.result = sink.result
        self.message = sink.message
        return finished ? sink.result : nil
    }

    /// Where decoded octets go, with the counters that follow them.
    private struct Sink {
        var message: ByteBuffer
        var result: Result
        let maxMessageSize: Int
        let maxLineLength: Int
        let policy: BareLineEndingPolicy
        var lineLength: Int

        mutating func bareLF() {
            result.sawBareLF = true
            bare(UInt8(ascii: "\n"))
        }

        mutating func bareCR() {
            result.sawBareCR = true
            bare(UInt8(ascii: "\r"))
        }

        /// A bare CR or LF never ends a line for framing; in `normalize` it is stored as CRLF.
        mutating func bare(_ byte: UInt8) {
            switch policy {
            case .reject: break
            case .accept: append(byte)
            case .normalize:
                appendCRLF()
                if lineLength > maxLineLength { result.sawLongLine = true }
                lineLength = 0
            }
        }

        mutating func appendCRLF() {
            result.size += 2
            if result.abandoned { return }
            if result.size > maxMessageSize {
                result.exceededSize = true
                return
            }
            message.writeStaticString("\r\n")
        }

        mutating func append(_ byte: UInt8) {
            result.size += 1
            if result.abandoned { return }
            if result.size > maxMessageSize {
                result.exceededSize = true
                return
            }
            message.writeInteger(byte)
        }

        mutating func append(_ bytes: UnsafeRawBufferPointer) {
            result.size += bytes.count
            if result.abandoned { return }
            if result.size > maxMessageSize {
                result.exceededSize = true
                return
            }
            message.writeBytes(bytes)
        }
    }
}
