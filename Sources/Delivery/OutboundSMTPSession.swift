import NIOCore
import NIOPosix
import NIOSSL
import OutboundSMTP

/// Delivers one message over one connection: drives SMTPClientStateMachine with a real socket
/// (NIO), TLS through swift-nio-ssl. Every wait is bounded by `timeout`; the future always
/// succeeds with one outcome per recipient (a failure to connect is a temporary failure of all).
public enum OutboundSMTPSession {
    public struct Options: Sendable {
        public var heloName: String
        public var tlsPolicy: SMTPClientStateMachine.TLSPolicy
        /// Each wait for a reply (RFC 5321 §4.5.3.2 suggests minutes; bounded either way).
        public var timeout: TimeAmount
        public var connectTimeout: TimeAmount
        /// Source address of the connection (a binding's `bind_address`).
        public var bindAddress: String?
        /// TLS settings for STARTTLS (certificate verification is off for opportunistic TLS,
        /// as MTAs do; required TLS still encrypts).
        public var tls: TLSConfiguration

        public init(heloName: String, tlsPolicy: SMTPClientStateMachine.TLSPolicy = .opportunistic, timeout: TimeAmount = .seconds(300),
                    connectTimeout: TimeAmount = .seconds(30), bindAddress: String? = nil) {
            self.heloName = heloName
            self.tlsPolicy = tlsPolicy
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.bindAddress = bindAddress
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            tls.minimumTLSVersion = .tlsv12
            self.tls = tls
        }
    }

    /// Connects to `host:port` and delivers `message` (the stored octets) for `envelope`.
    public static func deliver(_ envelope: SMTPClientStateMachine.Envelope, message: [UInt8], to host: String, port: Int,
                               options: Options, group: EventLoopGroup) -> EventLoopFuture<[SMTPClientStateMachine.RecipientOutcome]> {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: [SMTPClientStateMachine.RecipientOutcome].self)
        let machine = SMTPClientStateMachine(envelope: envelope, heloName: options.heloName, tlsPolicy: options.tlsPolicy)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        OutboundSMTPHandler(machine: machine, message: message, options: options, promise: promise))
                }
            }
        if let source = options.bindAddress, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        bootstrap.connect(host: host, port: port).whenFailure { error in
            promise.succeed(machine.connectionLost("cannot connect to \(host):\(port): \(error)"))
        }
        return promise.futureResult
    }
}

/// The channel side: lines in, the state machine's actions out.
final class OutboundSMTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var machine: SMTPClientStateMachine
    let message: [UInt8]
    let options: OutboundSMTPSession.Options
    let promise: EventLoopPromise<[SMTPClientStateMachine.RecipientOutcome]>
    var parser = SMTPReplyParser()
    var buffer = ByteBuffer()
    var timeoutTask: Scheduled<Void>?
    var finished = false

    init(machine: SMTPClientStateMachine, message: [UInt8], options: OutboundSMTPSession.Options,
         promise: EventLoopPromise<[SMTPClientStateMachine.RecipientOutcome]>) {
        self.machine = machine
        self.message = message
        self.options = options
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) { armTimeout(context: context) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while !finished, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            do {
                guard let reply = try parser.feed(Substring(line)) else { continue }
                armTimeout(context: context)
                perform(machine.received(reply), context: context)
            } catch {
                finish(machine.connectionLost("protocol error from the next hop: \(error)"), context: context)
            }
        }
        if buffer.readableBytes > 65536 { finish(machine.connectionLost("reply line too long"), context: context) }
        buffer.discardReadBytes()
    }

    func perform(_ action: SMTPClientStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .send(let lines):
            var out = context.channel.allocator.buffer(capacity: 64)
            for line in lines { out.writeString(line + "\r\n") }
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .sendMessage:
            let encoded = DotStuffedDataEncoder.encode(message)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: encoded)), promise: nil)
        case .startTLS:
            do {
                let handler = try NIOSSLClientHandler(context: NIOSSLContext(configuration: options.tls), serverHostname: nil)
                try context.pipeline.syncOperations.addHandler(handler, position: .first)
                perform(machine.tlsEstablished(), context: context)
            } catch {
                finish(machine.connectionLost("TLS: \(error)"), context: context)
            }
        case .wait:
            break
        case .finished(let outcomes, let quit):
            if quit {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "QUIT\r\n")), promise: nil)
            }
            finish(outcomes, context: context)
        }
    }

    func finish(_ outcomes: [SMTPClientStateMachine.RecipientOutcome], context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        timeoutTask?.cancel()
        promise.succeed(outcomes)
        context.close(promise: nil)
    }

    func armTimeout(context: ChannelHandlerContext) {
        timeoutTask?.cancel()
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(in: options.timeout) {
            bound.value.handler.finish(bound.value.handler.machine.connectionLost("timeout waiting for the next hop"), context: bound.value.context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(machine.connectionLost("connection closed by the next hop"), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(machine.connectionLost("connection error: \(error)"), context: context)
    }
}
