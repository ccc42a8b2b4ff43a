import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request to the HTTP_Listener, with where it came from.
package struct EndpointRequest: Sendable {
    package var method: String
    package var uri: String
    package var headers: [(String, String)]
    package var body: [UInt8]
    /// The client's and the listening socket's addresses.
    package var remoteAddress: SocketAddress?
    package var localAddress: SocketAddress?
    /// Which `Listen` of the listener received it (its position in the configuration).
    package var listenIndex: Int = 0
    /// The event loop of the connection (the request's policy callouts run in its policy state).
    package var eventLoop: EventLoop?

    package init(method: String, uri: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }

    /// The path without its query.
    package var path: Substring { uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }

    /// The first header field named `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

/// What an endpoint answered: status, reason, content type, body, extra `Name: value` fields.
package typealias EndpointResponse = (
    status: Int, reason: String, contentType: String, body: [UInt8], headers: [String]
)

/// Answers an endpoint request, later and from any thread: the response, or nil (404).
package typealias EndpointAnswer = @Sendable (EndpointResponse?) -> Void

/// The `HTTP_Listener`'s sockets (docs/http-api.md): HTTP/1.1 with keep-alive; each complete
/// request goes to `endpoint`, which answers through its callback from any thread, never on the
/// event loop's time. A body over its Listen's `maxRequestBody` is refused with 413.
package final class HTTPListenerServer: Sendable {
    package let channels: [Channel]

    package init(
        _ addresses: [(host: String, port: Int, maxRequestBody: Int, idleSeconds: Int)], group: EventLoopGroup,
        endpoint: @escaping @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    ) throws {
        var channels: [Channel] = []
        for (index, address) in addresses.enumerated() {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPRequestHandler(
                                listenIndex: index, maxRequestBody: address.maxRequestBody,
                                idleTimeout: .seconds(Int64(address.idleSeconds)), endpoint: endpoint))
                    }
                }
                .bind(host: address.host, port: address.port).wait()
            channels.append(channel)
        }
        self.channels = channels
    }

    package func close() { for channel in channels { try? channel.close().wait() } }
}

package final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundOut = HTTPServerResponsePart

    package let endpoint: @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    package let listenIndex: Int
    package let maxRequestBody: Int
    package var head: HTTPRequestHead?
    package var body: [UInt8] = []
    package var tooLarge = false
    package var idleTask: Scheduled<Void>?
    /// A connection idle this long is closed (a scraper reconnects; a silent peer holds nothing).
    /// The clock stops while a request is being answered (an injection may take its time).
    package let idleTimeout: TimeAmount

    package init(
        listenIndex: Int, maxRequestBody: Int, idleTimeout: TimeAmount = .seconds(30),
        endpoint: @escaping @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    ) {
        self.idleTimeout = idleTimeout
        self.listenIndex = listenIndex
        self.maxRequestBody = maxRequestBody
        self.endpoint = endpoint
    }

    package func channelActive(context: ChannelHandlerContext) { rearm(context.channel) }
    package func channelInactive(context: ChannelHandlerContext) { idleTask?.cancel() }

    package func rearm(_ channel: Channel) {
        idleTask?.cancel()
        idleTask = channel.eventLoop.scheduleTask(in: idleTimeout) { channel.close(promise: nil) }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        rearm(context.channel)
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            body = []
            tooLarge = false
            if let declared = request.headers.first(name: "Content-Length").flatMap(Int.init),
                declared > maxRequestBody
            {
                tooLarge = true
            }
        case .body(var chunk):
            if tooLarge || body.count + chunk.readableBytes > maxRequestBody {
                tooLarge = true
                body = []
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let request = head else { return }
            head = nil
            idleTask?.cancel()
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            var received = EndpointRequest(
                method: request.method.rawValue, uri: request.uri,
                headers: request.headers.map { ($0.name, $0.value) }, body: body)
            received.remoteAddress = context.channel.remoteAddress
            received.localAddress = context.channel.localAddress
            received.listenIndex = listenIndex
            received.eventLoop = loop
            body = []
            let answer: EndpointAnswer = { response in
                let response =
                    response ?? (404, "Not Found", "text/plain", Array("not found\n".utf8), [])
                loop.execute {
                    bound.value.handler.respond(response, version: request.version, context: bound.value.context)
                }
            }
            if tooLarge {
                answer(
                    (
                        413, "Payload Too Large", "application/json",
                        Array(#"{"errors":[{"message":"request body larger than max_request_size"}]}"#.utf8), []
                    ))
            } else {
                endpoint(received, answer)
            }
        }
    }

    package func respond(_ response: EndpointResponse, version: HTTPVersion, context: ChannelHandlerContext) {
        rearm(context.channel)
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
