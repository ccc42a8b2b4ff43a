import ImpulseConfig
import Logging
import NIOCore

/// Reads the PROXY header (`ProxyProtocolHeader`) a load balancer sends first, within
/// `proxy_protocol_timeout`, then hands the connection to `then` with the client address the
/// header carries (nil: the proxy's own) and passes on what followed the header. A missing,
/// malformed or late header closes the connection without a word: the peer is not speaking
/// SMTP to us yet. Handles untrusted input; buffers at most one header's worth.
package final class ProxyProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer

    /// Sets the session up once the header is read: the client it names, and its port.
    package typealias Continuation = (Channel, (address: IPAddress, port: Int)?) throws -> Void

    private let timeout: TimeAmount
    private let logger: Logger
    private let peer: String
    private var then: Continuation?
    private var buffer = ByteBuffer()
    private var deadline: Scheduled<Void>?

    package init(timeoutSeconds: Int, peer: String, logger: Logger, then: @escaping Continuation) {
        self.timeout = .seconds(Int64(timeoutSeconds))
        self.peer = peer
        self.logger = logger
        self.then = then
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let peer = self.peer
        let logger = self.logger
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            logger.notice("proxy_protocol: no complete PROXY header in time; closed", metadata: ["proxy": "\(peer)"])
            bound.value.close(promise: nil)
        }
    }

    package func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let continuation = then else {
            context.fireChannelRead(data)
            return
        }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        switch ProxyProtocolHeader.parse(buffer.readableBytesView) {
        case .incomplete:
            return
        case .invalid(let why):
            then = nil
            logger.notice("proxy_protocol: \(why); closed", metadata: ["proxy": "\(peer)"])
            context.close(promise: nil)
        case .header(let length, let client):
            then = nil
            deadline?.cancel()
            buffer.moveReaderIndex(forwardBy: length)
            do {
                try continuation(context.channel, client)
            } catch {
                context.close(promise: nil)
                return
            }
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            buffer = ByteBuffer()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
