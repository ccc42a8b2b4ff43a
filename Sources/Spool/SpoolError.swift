/// A spool I/O failure. The SMTP layer answers it with `451 4.3.0`.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(operation) \(path): \(String(decoding: strerrorBytes(errno), as: UTF8.self))"
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

func strerrorBytes(_ code: Int32) -> [UInt8] {
    guard let pointer = strerror(code) else { return Array("errno \(code)".utf8) }
    var bytes: [UInt8] = []
    var index = 0
    while pointer[index] != 0 {
        bytes.append(UInt8(bitPattern: pointer[index]))
        index += 1
    }
    return bytes
}
