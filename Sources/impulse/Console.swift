import ArgumentParser
import CEditLine
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `impulse console`: Momentum's ec_console for Impulse's control listener. With a command it
/// runs that one command and exits 0 when it worked, 1 when the server refused it, 2 when the
/// server could not be reached; without one it is interactive (line editing, history, `help`,
/// `quit`).
struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a running server's control listener (interactive without a command).",
        discussion: "The socket is --socket, else the first Control_Listener socket of --config, else "
            + "/tmp/2025 (Momentum's ec_console default, where the example configuration listens), or "
            + "/run/impulse/ctl.sock (the installed configuration's) when only that one exists. A "
            + "socket is a Unix socket path (relative to the current directory) or 127.0.0.1:port. Exit "
            + "status: 0 done, 1 refused or failed, 2 unreachable. The server's commands: impulse console help.")

    /// Where ec_console looks without being told, and where the example configuration listens;
    /// then where the installed configuration listens (docs/operations.md).
    static let defaultSocket = "/tmp/2025"
    static let installedSocket = "/run/impulse/ctl.sock"

    @Option(name: .long, help: "The control socket: a Unix socket path, or 127.0.0.1:port.")
    var socket: String?

    @Option(name: .long, help: "A configuration whose Control_Listener names the socket.")
    var config: String?

    @Argument(
        parsing: .captureForPassthrough,
        help: "A command to run (e.g. summary, config reload); none for interactive use.")
    var command: [String] = []

    func run() throws {
        // The command is passed through as it is, so the console's own help is caught here.
        if command.first == "--help" || command.first == "-h" {
            print(Impulse.helpMessage(for: Console.self))
            return
        }
        let socket = try endpoint()
        let connection: ControlConnection
        do {
            connection = try ControlConnection(endpoint: socket)
        } catch {
            FileHandle.standardError.write(Data("impulse console: cannot reach \(socket): \(error)\n".utf8))
            throw ExitCode(2)
        }
        if !command.isEmpty {
            let (ok, text) = try reply(connection, command.joined(separator: " "))
            FileHandle.standardOutput.write(Data(text.utf8))
            throw ExitCode(ok ? 0 : 1)
        }
        guard isatty(STDIN_FILENO) != 0 else {
            // Commands on standard input, one per line, as ec_console's batch mode.
            var failed = false
            while let line = readLine() {
                let (ok, text) = try reply(connection, line)
                FileHandle.standardOutput.write(Data(text.utf8))
                failed = failed || !ok
            }
            throw ExitCode(failed ? 1 : 0)
        }
        print("Impulse console on \(socket); 'help' lists the commands, 'quit' leaves.")
        let prompt = "impulse(\(socket))> "
        while let raw = readline(prompt) {
            let line = String(cString: raw).trimmingCharacters(in: .whitespaces)
            free(raw)
            if line.isEmpty { continue }
            add_history(line)
            if line == "quit" || line == "exit" { break }
            let (_, text) = try reply(connection, line)
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    /// --socket, else the configuration's first control socket, else the default.
    func endpoint() throws -> String {
        if let socket { return socket }
        guard let config else {
            let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
            return !exists(Self.defaultSocket) && exists(Self.installedSocket)
                ? Self.installedSocket : Self.defaultSocket
        }
        guard let configuration = loadConfiguration(config) else { throw ExitCode(2) }
        switch configuration.control?.endpoints.first {
        case .unix(let path, _): return path
        case .tcp(let address): return address.description
        case nil:
            FileHandle.standardError.write(Data("impulse console: \(config) opens no Control_Listener\n".utf8))
            throw ExitCode(2)
        }
    }

    func reply(_ connection: ControlConnection, _ line: String) throws -> (Bool, String) {
        do {
            return try connection.send(line)
        } catch {
            FileHandle.standardError.write(Data("impulse console: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// A blocking client of the control protocol (ControlServer): a line out, `OK|ERR <n>\n` and n
/// octets back.
final class ControlConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let fd: Int32
    var pending: [UInt8] = []
    /// Longest reply the console accepts.
    static let maxReply = 64 << 20

    /// A Unix socket path unless it reads as host:port with a numeric port (`ctl.sock`,
    /// `./ctl.sock` and `/run/impulse/ctl.sock` are paths; `127.0.0.1:2025` and `[::1]:2025` are not).
    static func isSocketPath(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("/") || endpoint.hasPrefix(".") { return true }
        guard let colon = endpoint.lastIndex(of: ":") else { return true }
        return UInt16(endpoint[endpoint.index(after: colon)...]) == nil
    }

    init(endpoint: String) throws {
        if Self.isSocketPath(endpoint) {
            fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = Array(endpoint.utf8)
            guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
                throw Failure(description: "socket path too long")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.enumerated() { buffer[index] = byte }
            }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard result == 0 else {
                close(fd)
                throw Failure(description: String(cString: strerror(errno)))
            }
        } else {
            guard let colon = endpoint.lastIndex(of: ":"), let port = UInt16(endpoint[endpoint.index(after: colon)...])
            else {
                throw Failure(description: "expected a socket path or host:port")
            }
            let host = endpoint[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                throw Failure(description: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(list) }
            fd = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
            guard fd >= 0, connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                let reason = String(cString: strerror(errno))
                if fd >= 0 { close(fd) }
                throw Failure(description: reason)
            }
        }
    }

    deinit { close(fd) }

    /// Sends one command line; the server's verdict and text.
    func send(_ line: String) throws -> (Bool, String) {
        let bytes = Array((line.replacingOccurrences(of: "\n", with: " ") + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the server closed the connection") }
            written += count
        }
        let header = try readLine()
        let parts = header.split(separator: " ")
        guard parts.count == 2, parts[0] == "OK" || parts[0] == "ERR", let length = Int(parts[1]),
            (0...Self.maxReply).contains(length)
        else {
            throw Failure(description: "unexpected reply from the server: \(header.prefix(80))")
        }
        let body = try read(count: length)
        return (parts[0] == "OK", String(decoding: body, as: UTF8.self))
    }

    func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { throw Failure(description: "the server closed the connection") }
        pending += buffer[..<count]
    }

    func readLine() throws -> String {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                return line
            }
            if pending.count > 1024 { throw Failure(description: "reply header too long") }
            try fill()
        }
    }

    func read(count: Int) throws -> [UInt8] {
        while pending.count < count { try fill() }
        let body = Array(pending[..<count])
        pending.removeFirst(count)
        return body
    }
}
