/// Why a DKIM operation failed: libopendkim's status and its explanation.
public struct DKIMError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int32
    public var message: String

    public init(status: Int32, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

extension String {
    /// The text of a NUL-terminated C buffer Impulse filled.
    init(buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
