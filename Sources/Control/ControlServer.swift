import Foundation
import ImpulseConfig
import Logging
import NIOCore
import NIOPosix

/// The control channel (`Control_Listener`): one command line in, one framed reply out —
/// `OK <octets>\n<text>` or `ERR <octets>\n<text>` — as many times as the client likes
/// (Momentum's wire protocol is not published; this one is Impulse's, spoken by
/// `impulse console`). Commands run one at a time on the server's control queue.
package final class ControlServer: Sendable {
    /// Longest console command line. The console layer's one limit.
    package static let maxLineLength = 8192

    let channels: [Channel]

    /// Binds every endpoint; a Unix socket file left by an earlier run is replaced.
    package init(
        _ configuration: ControlListenerConfiguration, group: EventLoopGroup, logger: Logger,
        execute: @escaping @Sendable (String) -> (ok: Bool, text: String)
    ) throws {
        var channels: [Channel] = []
        let timeout = configuration.timeout
        for endpoint in configuration.endpoints {
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineDecoder(maxLength: ControlServer.maxLineLength)))
                        try channel.pipeline.syncOperations.addHandler(
                            ControlSessionHandler(timeout: timeout, execute: execute))
                    }
                }
            switch endpoint {
            case .unix(let path, let mode):
                if FileManager.default.fileExists(atPath: path) {
                    var info = stat()
                    if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
                }
                // The socket file gets its mode as it is created: with the umask's mode there would
                // be a moment in which anyone it allows could connect.
                let previous = umask(mode_t(~mode & 0o777))
                let bound = Result { try bootstrap.bind(unixDomainSocketPath: path).wait() }
                umask(previous)
                let channel = try bound.get()
                chmod(path, mode_t(mode))
                channels.append(channel)
                logger.notice("control listener on \(path) (mode \(String(mode, radix: 8)))")
            case .tcp(let address):
                let channel = try bootstrap.bind(host: address.host, port: address.port).wait()
                channels.append(channel)
                logger.notice("control listener on \(channel.localAddress.map { "\($0)" } ?? address.description)")
            }
        }
        self.channels = channels
    }

    package func close(unlinking configuration: ControlListenerConfiguration?) {
        for channel in channels { try? channel.close().wait() }
        for case .unix(let path, _) in configuration?.endpoints ?? [] { unlink(path) }
    }
}

/// Splits the stream into lines (LF, an optional CR before it dropped); a line over the limit
/// closes the connection.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let maxLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxLength { throw ControlLineTooLong() }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard length <= maxLength, var line = buffer.readString(length: length) else { throw ControlLineTooLong() }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

struct ControlLineTooLong: Error {}

/// One console connection: runs each line's command (off the event loop) and writes the reply.
final class ControlSessionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = String
    typealias OutboundOut = ByteBuffer

    let timeout: Int
    let execute: @Sendable (String) -> (ok: Bool, text: String)
    var idleTask: Scheduled<Void>?
    /// This connection's commands run in order, one after another (a client may send several
    /// lines at once; the replies come back in the same order).
    let commands = DispatchQueue(label: "impulse.control.connection")

    init(timeout: Int, execute: @escaping @Sendable (String) -> (ok: Bool, text: String)) {
        self.timeout = timeout
        self.execute = execute
    }

    /// Set once a line showed that the peer is not a console client; later lines are dropped.
    var refused = false

    func channelActive(context: ChannelHandlerContext) { rearm(context: context) }

    /// True for a line no console command looks like, but another protocol's first lines do: an
    /// HTTP request line (`POST /x HTTP/1.1`), a header field (`Host: …`), or control characters.
    /// A browser or a forged server-side request aimed at a loopback console sends those first,
    /// with commands hidden in its body (a cross-protocol request).
    static func isForeign(_ line: String) -> Bool {
        if line.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) { return true }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        if words.count >= 3, words.last!.hasPrefix("HTTP/") { return true }
        if let first = words.first, let colon = first.firstIndex(of: ":"), colon != first.startIndex,
            first[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        {
            return true
        }
        return false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        if refused { return }
        if Self.isForeign(line) {
            // Nothing after it runs either: the lines already read are dropped with the connection.
            refused = true
            context.close(promise: nil)
            return
        }
        rearm(context: context)
        let execute = execute
        let channel = context.channel
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        // Commands may block (reload, shutdown): they run off the event loop.
        commands.async {
            let (ok, text) = execute(line)
            channel.eventLoop.execute {
                var buffer = channel.allocator.buffer(capacity: text.utf8.count + 16)
                buffer.writeString("\(ok ? "OK" : "ERR") \(text.utf8.count)\n")
                buffer.writeString(text)
                channel.writeAndFlush(buffer, promise: nil)
                bound.value.rearm(context: nil, channel: channel)
            }
        }
    }

    func rearm(context: ChannelHandlerContext?, channel: Channel? = nil) {
        idleTask?.cancel()
        guard let channel = channel ?? context?.channel else { return }
        idleTask = channel.eventLoop.scheduleTask(in: .seconds(Int64(timeout))) { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) { idleTask?.cancel() }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is ControlLineTooLong {
            var buffer = context.channel.allocator.buffer(capacity: 64)
            let text = "command line longer than \(ControlServer.maxLineLength) octets\n"
            buffer.writeString("ERR \(text.utf8.count)\n\(text)")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.close(promise: nil)
    }
}
