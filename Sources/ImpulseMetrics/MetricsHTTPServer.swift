import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The `HTTP_Listener`: `GET /metrics` answers Prometheus' text exposition; anything else 404.
package final class MetricsHTTPServer: Sendable {
    package let channels: [Channel]

    package init(
        _ addresses: [(host: String, port: Int)], group: EventLoopGroup,
        scrape: @escaping @Sendable () -> [UInt8]
    ) throws {
        var channels: [Channel] = []
        for address in addresses {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(scrape: scrape))
                    }
                }
                .bind(host: address.host, port: address.port).wait()
            channels.append(channel)
        }
        self.channels = channels
    }

    package func close() { for channel in channels { try? channel.close().wait() } }
}

package final class MetricsRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundOut = HTTPServerResponsePart

    package let scrape: @Sendable () -> [UInt8]
    package var head: HTTPRequestHead?
    package var idleTask: Scheduled<Void>?
    /// A connection idle this long is closed (a scraper reconnects; a silent peer holds nothing).
    package static let idleTimeout = TimeAmount.seconds(30)

    package init(scrape: @escaping @Sendable () -> [UInt8]) { self.scrape = scrape }

    package func channelActive(context: ChannelHandlerContext) { rearm(context.channel) }
    package func channelInactive(context: ChannelHandlerContext) { idleTask?.cancel() }

    package func rearm(_ channel: Channel) {
        idleTask?.cancel()
        idleTask = channel.eventLoop.scheduleTask(in: Self.idleTimeout) { channel.close(promise: nil) }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        rearm(context.channel)
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let found = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
            let scrape = scrape
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            // Scraping reads the spool directory: off the event loop.
            DispatchQueue.global().async {
                let body = found ? scrape() : Array("not found: try /metrics\n".utf8)
                loop.execute {
                    bound.value.handler.respond(
                        body, found: found, version: request.version, context: bound.value.context)
                }
            }
        }
    }

    package func respond(_ body: [UInt8], found: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.count)")
        context.write(
            wrapOutboundOut(
                .head(HTTPResponseHead(version: version, status: found ? .ok : .notFound, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
