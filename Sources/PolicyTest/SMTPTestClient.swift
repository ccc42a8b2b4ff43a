import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The client side of a policy test: a plain blocking SMTP client on loopback that starts with a
/// PROXY protocol v1 header naming the transcript's client, so the server's Peer policy, relay
/// control and scripts see that address.
final class SMTPTestClient {
    private let socket: Int32
    private var buffer: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(port: Int, client: String) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw Failure(description: "cannot connect to the test listener: \(String(cString: strerror(errno)))")
        }
        let family = client.contains(":") ? "TCP6" : "TCP4"
        let local = client.contains(":") ? "::1" : "127.0.0.1"
        try send("PROXY \(family) \(client) \(local) 40000 25")
    }

    deinit { close(socket) }

    func send(_ line: String) throws {
        let bytes = Array((line + "\r\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the server closed the connection") }
            sent += count
        }
    }

    /// One reply: its code and lines (without the code and separator).
    func reply() throws -> (code: Int, lines: [String]) {
        var lines: [String] = []
        while true {
            let line = try readLine()
            guard line.count >= 3, let code = Int(line.prefix(3)) else {
                throw Failure(description: "not an SMTP reply: \(line)")
            }
            lines.append(String(line.dropFirst(4)))
            if line.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] == " " { return (code, lines) }
            guard lines.count < 100 else { throw Failure(description: "a reply of more than 100 lines") }
        }
    }

    private func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard buffer.count < 65536 else { throw Failure(description: "a reply line longer than 64 KiB") }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            guard count > 0 else {
                throw Failure(description: count == 0 ? "the server closed the connection" : "no reply in 60 s")
            }
            buffer += chunk[..<count]
        }
    }
}
