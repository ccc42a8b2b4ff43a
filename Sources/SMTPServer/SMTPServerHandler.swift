import Foundation
import ImpulseConfig
import ImpulseMetrics
import Logging
import LuaBridge
import NIOCore
import NIOSSL
import NIOTLS
import PolicyRuntime
import Resolver
import SMTPProtocol
import Scriptlet
import SenderAuth
import Spool

/// Drives one inbound SMTP connection: frames input (commands, DATA, BDAT chunks), feeds the
/// state machine, performs its actions, and enforces the timeouts. Replies to pipelined commands
/// are written as they are produced and flushed once per read. Handles untrusted network input.
package final class SMTPServerHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    package enum Mode {
        case command
        case data(DotStuffedDataDecoder)
        /// Raw BDAT octets still to read, and whether they are kept.
        case chunk(remaining: Int, store: Bool)
        /// Waiting for the spool: input is buffered, not processed.
        case waiting
        /// STARTTLS answered; waiting for the handshake (bounded by the command timeout).
        case handshaking
        case closed
    }

    package let services: ServerServices
    package let tlsContext: NIOSSLContext?
    package var machine: SMTPSessionStateMachine
    package var framer: CommandLineFramer
    package var mode: Mode = .command
    package var inbound = ByteBuffer()
    /// BDAT content gathered so far in this transaction.
    package var chunkBuffer = ByteBuffer()
    /// Octets of message content this session holds against the shared reception budget.
    package var charged = 0
    /// The budget ran out during this BDAT transaction: later chunks are read, not kept.
    package var chunksAbandoned = false
    package var lastActivity = NIODeadline.now()
    package let sessionStarted = NIODeadline.now()
    package var timeoutTask: Scheduled<Void>?
    /// A TLS handshake is under way (bounded by `tls_handshake_timeout`).
    package var handshakePending = false
    package var context: ChannelHandlerContext?
    package var logger: Logger
    /// Reading is paused: too much input buffered while we wait, or replies the client does not read.
    package var readingPaused = false

    /// This event loop's policy state, when scripts are configured.
    package let policyState: PolicyState?
    package let sessionID: Int
    package var policySessionOpen = false
    /// The current message was handed to the policy state (message-phase callouts are running).
    package var messageShownToPolicy = false
    /// The callout running now (for whether the recipient list is final).
    package var currentCallout: Callout?
    /// The next reply is a policy's decision (rejectlog `M=scriptlet`).
    package var replyFromPolicy = false
    /// A callout suspended past this is abandoned (the client is waiting for a reply).
    package var policyDeadline = NIODeadline.now()
    /// When the running callout started (for its latency metric).
    package var calloutStarted: UInt64 = 0
    /// The session's context before the running callout (only under `impulse policy test`).
    package var contextBeforeCallout: (conn: [String: String], mess: [String: String])?
    /// SPF, DKIM verification and DMARC for this session (the configuration's at its start).
    package let authentication: ReceptionAuthentication?
    /// The SPF result for the current transaction's MAIL FROM.
    package var spfReport: SPFReport?
    /// The MAIL consult about to run has had its SPF check.
    package var senderChecked = false
    /// DKIM and DMARC results for the message being received (until it is spooled or refused).
    package var messageAuthentication: MessageAuthentication?
    /// The inbound policy for a client address (its Peer's): what XCLIENT's client gets.
    package var policyForClient: (@Sendable (IPAddress) -> InboundPolicy)?

    package init(
        machine: SMTPSessionStateMachine, services: ServerServices, tlsContext: NIOSSLContext?, logger: Logger,
        policyState: PolicyState? = nil, sessionID: Int = 0
    ) {
        self.policyState = policyState
        self.sessionID = sessionID
        self.machine = machine
        self.authentication = services.authentication.value
        self.machine.checksSender = authentication?.checksSPF == true
        self.services = services
        self.tlsContext = tlsContext
        self.framer = CommandLineFramer(maxLineLength: machine.policy.limits.maxCommandLineLength)
        self.logger = logger
    }

    /// `address:port` of the client, for log lines.
    package var clientLabel: String { "\(machine.clientAddress):\(machine.clientPort)" }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false

    package func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        services.sessions.add(NIOLoopBound(self, eventLoop: context.eventLoop), id: ObjectIdentifier(self))
        services.statistics.sessionOpened()
        if services.isDraining {
            closeWith(machine.beginDraining() ?? .shuttingDownBeforeGreeting, context: context)
            return
        }
        openPolicySession(context: context)
        // On an implicit-TLS listener the handshake comes first; it has its own deadline.
        if machine.tlsActive { startHandshakeDeadline(context: context) }
        perform(machine.start(), context: context)
        context.flush()
        scheduleTimeout(context: context)
    }

    /// The policy state's session for the client `machine` serves, its connection context seeded.
    package func openPolicySession(context: ChannelHandlerContext, extra: [(String, String)] = []) {
        guard let policyState else { return }
        var seeds = machine.policy.context.map { ($0.key, $0.value) }
        if machine.clientMayRelay { seeds.append(("can_relay", "true")) }
        let local = context.channel.localAddress
        policyState.openSession(
            sessionID, connectionContext: seeds + extra, peer: (machine.clientAddress.description, machine.clientPort),
            listener: (local?.ipAddress ?? "0.0.0.0", local?.port ?? 0))
        policyState.recipientSource[sessionID] = { [unowned self] in
            guard let addresses = machine.recipientsForPolicy else { return nil }
            return (addresses, currentCallout.map(machine.recipientListIsFinal(for:)) ?? false)
        }
        policySessionOpen = true
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        if policySessionOpen, let policyState {
            policySessionOpen = false
            if let failure = policyState.closeSession(sessionID) { logPolicyFailure(failure) }
        }
        // A spool write still in flight gives its charge back when it completes (spoolFinished).
        if case .waiting = mode {} else { releaseMemory() }
        timeoutTask?.cancel()
        services.sessions.remove(ObjectIdentifier(self))
        self.context = nil
    }

    package func channelInactive(context: ChannelHandlerContext) {
        mode = .closed
        timeoutTask?.cancel()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard case .closed = mode else {
            lastActivity = .now()
            if inbound.readableBytes == 0 {
                inbound = bytes
            } else {
                inbound.writeBuffer(&bytes)
            }
            process(context: context)
            if case .waiting = mode, inbound.readableBytes > ServerLimits.maxBufferedWhileWaiting {
                pauseReading(context: context)
            }
            return
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// A client that does not read its replies gets no more of its input processed until it does,
    /// so the replies queued for it stay bounded.
    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            resumeReading(context: context)
            process(context: context)
            context.flush()
        }
        context.fireChannelWritabilityChanged()
    }

    package func pauseReading(context: ChannelHandlerContext) {
        guard !readingPaused else { return }
        readingPaused = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    package func resumeReading(context: ChannelHandlerContext) {
        guard readingPaused else { return }
        readingPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        context.read()
    }

    package func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("session error", metadata: ["client": "\(clientLabel)", "error": "\(error)"])
        mode = .closed
        context.close(promise: nil)
    }

    // MARK: - Input

    /// Works through buffered input until it runs out or the session has to wait.
    package func process(context: ChannelHandlerContext) {
        loop: while true {
            if !context.channel.isWritable {
                pauseReading(context: context)
                break loop
            }
            switch mode {
            case .closed, .waiting, .handshaking:
                break loop
            case .command:
                guard let output = framer.next(&inbound) else { break loop }
                switch output {
                case .line(let line):
                    services.metrics.command(line.readableBytesView.prefix(4))
                    perform(machine.receive(line: line), context: context)
                case .tooLong: perform(machine.receiveOverlongLine(), context: context)
                }
            case .data(var decoder):
                mode = .waiting // release the decoder's storage while we mutate our copy
                let finished = decoder.decode(&inbound)
                var abandonedNow = false
                if !chargeMemory(holding: decoder.message.readableBytes) {
                    decoder.abandon()
                    releaseMemory()
                    abandonedNow = true
                }
                if var result = finished {
                    mode = .command
                    if abandonedNow { result.abandoned = true }
                    let action = machine.dataCompleted(decoder.message, result)
                    if case .spool = action {} else { releaseMemory() }
                    perform(action, context: context)
                } else {
                    mode = .data(decoder)
                    break loop
                }
            case .chunk(let remaining, let store):
                let take = min(remaining, inbound.readableBytes)
                if take == 0 && remaining > 0 { break loop }
                if store, !chunksAbandoned, chargeMemory(holding: chunkBuffer.readableBytes + take),
                    var slice = inbound.readSlice(length: take)
                {
                    chunkBuffer.writeBuffer(&slice)
                } else {
                    if store && !chunksAbandoned {
                        chunksAbandoned = true
                        chunkBuffer = ByteBuffer()
                        releaseMemory()
                    }
                    inbound.moveReaderIndex(forwardBy: take)
                }
                if remaining - take > 0 {
                    mode = .chunk(remaining: remaining - take, store: store)
                    break loop
                }
                mode = .command
                let action = machine.chunkCompleted(
                    message: store ? chunkBuffer : nil, abandoned: store && chunksAbandoned)
                let spooling: Bool
                if case .spool = action { spooling = true } else { spooling = false }
                if spooling || !machine.inTransaction {
                    chunkBuffer = ByteBuffer()
                    chunksAbandoned = false
                    if !spooling { releaseMemory() }
                }
                perform(action, context: context)
            }
        }
        if inbound.readableBytes == 0 {
            inbound.clear()
        } else if inbound.readerIndex > 65536 {
            inbound.discardReadBytes()
        }
    }

    // MARK: - Actions

    package func perform(_ first: SMTPSessionStateMachine.Action, context: ChannelHandlerContext) {
        var action = first
        if case .consult(.mailFrom, _, _, true) = first, authentication?.checksSPF == true {
            if !senderChecked {
                spfReport = nil
                checkSender(first, context: context)
                return
            }
            senderChecked = false
        }
        // Policy callouts run here, one after another (a message's phases can chain many).
        while case .consult(let callout, let text, let updates, let newMessage) = action {
            guard let policyState, policySessionOpen else {
                action = machine.policyDecided(.proceed)
                continue
            }
            if let authentication, authentication.verifiesDKIM || authentication.dmarc != nil,
                messageAuthentication == nil, !messageShownToPolicy, let message = machine.messageUnderPolicy
            {
                // The message is complete: who sent it is known before any data callout runs.
                mode = .waiting
                context.flush()
                authenticateMessage(Array(message.readableBytesView), context: context) { handler, outcome in
                    guard let context = handler.context, case .waiting = handler.mode else { return }
                    handler.mode = .command
                    handler.lastActivity = .now()
                    if let refusal = handler.dmarcRefusal(outcome) {
                        handler.perform(
                            handler.machine.policyDecided(.reply(code: refusal.code, text: refusal.text)),
                            context: context)
                    } else {
                        handler.perform(
                            .consult(
                                callout, text: text, context: updates + Self.contextUpdates(outcome),
                                newMessage: newMessage), context: context)
                    }
                    handler.process(context: context)
                    context.flush()
                    if context.channel.isWritable { handler.resumeReading(context: context) }
                }
                return
            }
            if newMessage { policyState.beginMessage(sessionID) }
            if let message = machine.messageUnderPolicy {
                if !messageShownToPolicy {
                    policyState.offerMessage(
                        sessionID, size: message.readableBytes, messageID: machine.messageIDUnderPolicy
                    ) {
                        Array(message.readableBytesView)
                    }
                    messageShownToPolicy = true
                }
            } else {
                messageShownToPolicy = false
            }
            policyState.setContexts(sessionID, updates)
            currentCallout = callout
            if services.metricsServed { calloutStarted = DispatchTime.now().uptimeNanoseconds }
            policyDeadline = .now() + .seconds(machine.policy.limits.commandTimeout)
            if services.trace != nil { contextBeforeCallout = policyState.contextSnapshot(sessionID) }
            switch policyState.start(callout, session: sessionID, text: text) {
            case .done(let outcome):
                action = decided(outcome)
            case .suspended(let suspension):
                suspend(suspension, context: context)
                return
            }
        }
        switch action {
        case .consult:
            break // handled above
        case .reply(let reply):
            releaseRefusedMessage()
            write(reply, context: context)
        case .replyAndClose(let reply):
            releaseRefusedMessage()
            closeWith(reply, context: context)
        case .beginData(let reply):
            write(reply, context: context)
            context.flush()
            mode = .data(
                DotStuffedDataDecoder(
                    maxMessageSize: machine.policy.limits.maxMessageSize,
                    maxLineLength: machine.policy.limits.maxTextLineLength,
                    policy: machine.policy.bareLineEndings))
        case .readChunk(let size, let store):
            mode = .chunk(remaining: size, store: store)
        case .discarded(let reply, let id, let reason):
            messageShownToPolicy = false
            _ = policyState?.takeModifiedMessage(sessionID)
            services.statistics.messageDiscarded()
            logger.notice(
                "scriptlet: message discarded by policy",
                metadata: ["client": "\(clientLabel)", "id": "\(id)", "reason": "\(reason)"])
            write(reply, context: context)
        case .startTLS(let reply):
            startTLS(reply, context: context)
        case .authenticate(let mechanism, let credentials):
            authenticate(mechanism, credentials, context: context)
        case .xclient(let identity):
            restart(as: identity, context: context)
        case .spool(var envelope, var parts):
            for (address, reason) in machine.recipientsDiscarded {
                logger.notice(
                    "scriptlet: recipient discarded by policy",
                    metadata: [
                        "client": "\(clientLabel)", "id": "\(envelope.id)", "recipient": "\(address)",
                        "reason": "\(reason)"
                    ])
            }
            if messageShownToPolicy, let policyState {
                messageShownToPolicy = false
                if let modified = policyState.takeModifiedMessage(sessionID), let message = parts.popLast() {
                    parts += PolicyState.apply(modified, to: message)
                }
            }
            if let policyState, policySessionOpen, policyState.hasRoutingDomainHook {
                let domain = envelope.recipients.first.map { String($0.address.split(separator: "@").last ?? "") } ?? ""
                switch policyState.routingDomain(session: sessionID, defaultDomain: domain) {
                case .success(let chosen?) where chosen != envelope.routingDomain:
                    // A hook that chose a domain has the last word, for every recipient.
                    envelope.routingDomain = chosen
                    for index in envelope.recipients.indices { envelope.recipients[index].routingDomain = nil }
                case .success: break
                case .failure(let failure): logPolicyFailure(failure) // a hook error does not stop the message
                }
            }
            mode = .waiting
            context.flush()
            signThenSpool(envelope, parts, context: context)
        }
    }

    /// Hands the message to the spool writer; `spoolFinished` follows on this loop.
    package func submitToSpool(_ envelope: SpoolEnvelope, _ parts: [ByteBuffer], context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        services.spoolWriter.submit(.init(envelope: envelope, data: parts, promise: promise))
        if let trace = services.trace {
            trace.spooled(envelope, parts.reduce(into: [UInt8]()) { $0 += $1.readableBytesView })
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let domains = envelope.recipients.map { String($0.address.split(separator: "@").last ?? "") }
        let binding = envelope.binding ?? "default"
        let statistics = services.statistics
        promise.futureResult.whenComplete { result in
            let success: Bool
            if case .success = result { success = true } else { success = false }
            if success { statistics.messageReceived(recipientDomains: domains, binding: binding) }
            bound.value.spoolFinished(success: success, context: bound.value.context)
        }
    }

    /// Brings this session's charge up to `holding` octets; false when the shared budget is out.
    package func chargeMemory(holding: Int) -> Bool {
        guard holding > charged else { return true }
        guard services.memory.charge(holding - charged) else { return false }
        charged = holding
        return true
    }

    package func releaseMemory() {
        services.memory.release(charged)
        charged = 0
    }

    package func spoolFinished(success: Bool, context: ChannelHandlerContext?) {
        releaseMemory()
        guard let context, case .waiting = mode else { return }
        mode = .command
        lastActivity = .now()
        perform(machine.spoolCompleted(success: success), context: context)
        process(context: context)
        context.flush()
        if context.channel.isWritable { resumeReading(context: context) }
    }

    /// A transaction that ended without spooling (a callout refused the message) lets go of its
    /// content at once: the policy state's copy and the closure that would fetch it. A session
    /// idling after a refused 50 MB message holds none of it.
    package func releaseRefusedMessage() {
        messageAuthentication = nil
        guard messageShownToPolicy, machine.messageUnderPolicy == nil else { return }
        messageShownToPolicy = false
        _ = policyState?.takeModifiedMessage(sessionID)
    }

    package func write(_ reply: SMTPReply, context: ChannelHandlerContext) {
        if reply.code >= 500 { services.statistics.rejection(recipientDomain: machine.lastRecipientDomain) }
        machine.lastRecipientDomain = nil
        if reply.code >= 400 { logRejection(reply, context: context) }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// One rejectlog line for a 4xx/5xx reply, and `core_log_rejection_v1(now, ac, vctx, phase,
    /// note)` for modules that implement it (not while one of this session's callouts is
    /// suspended: its state must not change under it). `phase`: 1 awaiting ehlo, 2 awaiting
    /// mailfrom, 3 awaiting rcptto, 4 awaiting data, 5 data.
    package func logRejection(_ reply: SMTPReply, context: ChannelHandlerContext) {
        defer { replyFromPolicy = false }
        var waiting = false
        if case .waiting = mode { waiting = true }
        let fireHook = policySessionOpen && !waiting && policyState?.hasRejectionHook == true
        guard services.recordLog.rejectlogPath != nil || fireHook else { return }
        let local = context.channel.localAddress
        let reason = ((reply.enhancedCode.map { [$0] } ?? []) + reply.lines).joined(separator: " ")
        let phase = machine.rejectionPhase
        services.recordLog.rejection(
            remote: "\(machine.clientAddress):\(machine.clientPort)",
            local: "\(local?.ipAddress ?? "?"):\(local?.port ?? 0)", sessionID: sessionID,
            phase: phase, code: reply.code, module: replyFromPolicy ? "scriptlet" : "core", reason: reason)
        guard fireHook, let policyState else { return }
        let phaseNumber =
            ["awaiting ehlo": 1, "awaiting mailfrom": 2, "awaiting rcptto": 3, "awaiting data": 4, "data": 5][phase]
            ?? 0
        let result = policyState.fireHook(
            "core_log_rejection_v1", session: sessionID,
            [
                .number(Date().timeIntervalSince1970), .accept, .validationContext, .number(Double(phaseNumber)),
                .text("\(reply.code) \(reason)")
            ])
        if case .failure(let failure) = result { logPolicyFailure(failure) }
    }

    package func closeWith(_ reply: SMTPReply, context: ChannelHandlerContext) {
        if reply.code >= 400 { logRejection(reply, context: context) }
        mode = .closed
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        cutAfter(.seconds(machine.policy.limits.closeTimeout), channel: channel, reason: "last reply not written")
    }

    /// The hard deadline behind a close: a reply a client never reads (or a TLS layer that never
    /// gets to send it) does not keep the connection, its session slots and its memory.
    package func cutAfter(_ delay: TimeAmount, channel: Channel, reason: String) {
        let logger = logger, client = clientLabel
        channel.eventLoop.scheduleTask(in: delay) {
            guard channel.isActive else { return }
            logger.info("connection cut", metadata: ["client": "\(client)", "reason": "\(reason)"])
            channel.close(promise: nil)
        }
    }

}
