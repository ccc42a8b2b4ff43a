import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request for an endpoint scripts registered (msys.httpsrv.register).
package struct EndpointRequest: Sendable {
    package var method: String
    package var uri: String
    package var headers: [(String, String)]
    package var body: [UInt8]
}

/// What an endpoint answered: status, reason, content type, body, extra `Name: value` fields.
package typealias EndpointResponse = (
    status: Int, reason: String, contentType: String, body: [UInt8], headers: [String]
)

/// Answers an endpoint request, later and from any thread: the response, or nil (404).
package typealias EndpointAnswer = @Sendable (EndpointResponse?) -> Void

/// The `HTTP_Listener`: `GET /metrics` answers Prometheus' text exposition; other paths go to the
/// endpoints scripts registered (`endpoint`, which answers through its callback, never on the
/// event loop's time). A request body over `maxRequestBody` is refused with 413.
package final class MetricsHTTPServer: Sendable {
    package let channels: [Channel]
    /// Octets of a request body at most.
    package static let maxRequestBody = 1 << 20

    package init(
        _ addresses: [(host: String, port: Int)], group: EventLoopGroup,
        endpoint: @escaping @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void = { $1(nil) },
        scrape: @escaping @Sendable () -> [UInt8]
    ) throws {
        var channels: [Channel] = []
        for address in addresses {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(
                            MetricsRequestHandler(scrape: scrape, endpoint: endpoint))
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
    package let endpoint: @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    package var head: HTTPRequestHead?
    package var body: [UInt8] = []
    package var tooLarge = false
    package var idleTask: Scheduled<Void>?
    /// A connection idle this long is closed (a scraper reconnects; a silent peer holds nothing).
    package static let idleTimeout = TimeAmount.seconds(30)

    package init(
        scrape: @escaping @Sendable () -> [UInt8],
        endpoint: @escaping @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void = { $1(nil) }
    ) {
        self.scrape = scrape
        self.endpoint = endpoint
    }

    package func channelActive(context: ChannelHandlerContext) { rearm(context.channel) }
    package func channelInactive(context: ChannelHandlerContext) { idleTask?.cancel() }

    package func rearm(_ channel: Channel) {
        idleTask?.cancel()
        idleTask = channel.eventLoop.scheduleTask(in: Self.idleTimeout) { channel.close(promise: nil) }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        rearm(context.channel)
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            body = []
            tooLarge = false
        case .body(var chunk):
            if body.count + chunk.readableBytes > MetricsHTTPServer.maxRequestBody {
                tooLarge = true
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let request = head else { return }
            head = nil
            let isMetrics = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
            let scrape = scrape
            let endpoint = endpoint
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let received = EndpointRequest(
                method: request.method.rawValue, uri: request.uri,
                headers: request.headers.map { ($0.name, $0.value) }, body: body)
            let tooLarge = self.tooLarge
            body = []
            let answer: EndpointAnswer = { response in
                let response =
                    response ?? (404, "Not Found", "text/plain", Array("not found: try /metrics\n".utf8), [])
                loop.execute {
                    bound.value.handler.respond(response, version: request.version, context: bound.value.context)
                }
            }
            if tooLarge {
                answer((413, "Payload Too Large", "text/plain", Array("request body too large\n".utf8), []))
            } else if isMetrics {
                // Scraping reads the spool directory: off the event loop.
                DispatchQueue.global().async {
                    answer((200, "OK", "text/plain; version=0.0.4; charset=utf-8", scrape(), []))
                }
            } else {
                endpoint(received, answer)
            }
        }
    }

    package func respond(_ response: EndpointResponse, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        for line in response.headers {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(
                name: String(line[..<colon]),
                value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let status = HTTPResponseStatus(statusCode: response.status, reasonPhrase: response.reason)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
