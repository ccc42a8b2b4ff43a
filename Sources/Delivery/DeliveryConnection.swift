import Foundation
import ImpulseConfig
import NIOCore
import NIOPosix
import NIOSSL
import OutboundSMTP
import Spool

#if canImport(Glibc)
    import Glibc
#endif

/// One outbound connection of a queue: finds the next hops, connects to the first that answers
/// (the next MX when one cannot be reached or greets with an error), and delivers the queue's
/// work one transaction after another until the queue is empty and `idle_timeout` has passed,
/// `max_deliveries_per_connection` is reached or the next hop ends the session. Everything runs
/// on its event loop; the queue manager hands it work with `resumeOnLoop`.
final class DeliveryConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let manager: QueueManager
    /// The queue it works for: another with the same next hop when it migrates (under the queue
    /// manager's lock, from `next(for:)` on this connection's loop).
    var key: QueueKey
    let options: ResolvedOutboundOptions
    let id: Int
    let loop: EventLoop
    /// The `host` scope whose connection count includes this connection.
    let host: HostLimiter?

    var candidates: [NextHopResolver.Candidate] = []
    var candidateIndex = 0
    var context: ChannelHandlerContext?
    var machine: SMTPClientStateMachine?
    var parser = SMTPReplyParser()
    var buffer = ByteBuffer()
    var current: DeliveryWork?
    var currentSize = 0
    /// The message being sent: its spool entry, read and written a piece at a time.
    var currentEntry: SpoolDirectory.Entry?
    /// The first piece, kept from the 8-bit check for the send (most messages are one piece).
    var firstPiece: [UInt8]?
    var deliveries = 0
    /// The reply timeout: one scheduled check that re-arms itself while the deadline moves, so a
    /// transaction's several waits do not each schedule and cancel a timer.
    var timeoutTask: Scheduled<Void>?
    var deadline = NIODeadline.distantFuture
    var waitSeconds = 0
    /// When the scheduled check fires.
    var checkAt = NIODeadline.distantFuture
    /// The idle connection's wait for more work.
    var idleTask: Scheduled<Void>?
    var closed = false
    /// The segment file the last message was read from, kept open for the next (consecutive
    /// messages usually share a segment).
    var segmentFile: (path: String, fd: Int32)?
    /// The last failure to reach a candidate (reported when none can be reached).
    var lastConnectFailure = ""
    /// The message made 7-bit for a next hop without 8BITMIME (sent instead of the spool's).
    var sevenBitMessage: [UInt8]?
    /// A policy's TLS hook chose this connection's TLS (it then serves that domain only).
    var askedTLSHook = false
    /// The TLSA records of the host being connected to (DANE), when DNSSEC vouched for them:
    /// TLS is then required and the certificate must match one (an empty list: TLS without
    /// authentication, RFC 7672 §2.2).
    var dane: DANEVerifier?
    /// The domain's MTA-STS policy (RFC 8461), once looked up (`use_mta_sts`).
    var stsPolicy: MTASTSPolicy?
    var stsChecked = false
    /// This connection's TLS-RPT session was counted.
    var stsCounted = false
    /// What a policy's core_get_outbound_tls_parameters chose for this connection.
    var tlsOverride: OutboundTLSParameters?

    init(
        manager: QueueManager, key: QueueKey, options: ResolvedOutboundOptions, id: Int, loop: EventLoop,
        host: HostLimiter? = nil
    ) {
        self.host = host
        self.manager = manager
        self.key = key
        self.options = options
        self.id = id
        self.loop = loop
    }

    /// Asks the policy for the connection's TLS parameters (when it has a hook for them), then
    /// resolves the next hops and connects.
    func start(_ work: DeliveryWork) {
        current = work
        guard let hook = manager.outboundTLSHook, let first = work.recipients.first else {
            resolve()
            return
        }
        let configured: Int
        switch options.tls {
        case .no: configured = 0
        case .ifavailable: configured = 1
        case .required: configured = 2
        }
        let loop = self.loop
        let asked = hook(work.message.entry, first, key, configured) { [self] parameters in
            loop.execute {
                self.askedTLSHook = true
                self.tlsOverride = parameters
                self.resolve()
            }
        }
        if !asked { resolve() }
    }

    /// Resolves the next hops (off the loop: libunbound blocks), then connects.
    func resolve() {
        let hops = manager.hops
        let domain = key.domain
        let options = options
        // MTA-STS applies to MX delivery only (RFC 8461 §4): not through a gateway or routes.
        if !stsChecked, let policies = manager.mtaSTS, options.useMTASTS, options.enableMTASTS,
            options.gateway == nil, options.routes?.isEmpty ?? true
        {
            stsChecked = true
            let loop = self.loop
            policies.policy(for: domain) { [self] policy in
                loop.execute {
                    self.stsPolicy = policy
                    self.resolve()
                }
            }
            return
        }
        manager.blockingWork.runIfActive(eventLoop: loop) { hops.candidates(for: domain, options: options) }
            .whenComplete { [self] result in
                switch result {
                case .success(.success(let found)):
                    if let policy = stsPolicy, policy.mode == .enforce {
                        // Only the MX hosts the policy names (RFC 8461 §4.1).
                        candidates = found.filter { policy.allows($0.host) }
                        if candidates.isEmpty {
                            manager.mtaSTS?.count(domain, failure: "validation-failure")
                            giveUp(
                                """
                                451 4.7.5 MTA-STS: no MX host of \(domain) is one its policy names \
                                (mx: \(policy.mx.joined(separator: ", ")))
                                """, permanent: false)
                            return
                        }
                    } else {
                        candidates = found
                    }
                    connectNext()
                case .success(.failure(.permanent(let text))): giveUp(text, permanent: true)
                case .success(.failure(.temporary(let text))): giveUp(text, permanent: false)
                case .failure(let error): giveUp("451 4.4.3 cannot resolve \(domain): \(error)", permanent: false)
                }
            }
    }

    /// Tries the next candidate address; when none is left the work fails temporarily.
    func connectNext() {
        guard candidateIndex < candidates.count else {
            giveUp(
                "421 4.4.1 no adequate servers for \(key.domain)"
                    + (lastConnectFailure.isEmpty ? "" : " (\(lastConnectFailure))"), permanent: false)
            return
        }
        let candidate = candidates[candidateIndex]
        candidateIndex += 1
        dane = nil
        // DANE (RFC 7672): an MX host whose MX and address records DNSSEC vouched for has its
        // TLSA records looked up first.
        if options.useDANE, options.enableDANE, options.gateway == nil, options.routes?.isEmpty ?? true,
            candidate.secure, let resolver = manager.hops.resolver
        {
            let name = "_\(candidate.port)._tcp.\(candidate.host)"
            manager.blockingWork.runIfActive(eventLoop: loop) { resolver.lookup(name, type: .tlsa) }
                .whenComplete { [self] result in
                    switch result {
                    case .success(.success(let records)) where records.allSatisfy(\.secure):
                        dane = DANEVerifier(records: records.compactMap { DANEVerifier.Record($0.value) })
                    case .success(.success), .success(.failure(.nxdomain)), .success(.failure(.noData)):
                        break // no (validated) TLSA records: no DANE for this host
                    case .success(.failure(let error)):
                        // A TLSA look-up that fails (or is bogus) makes the host unusable (§2.2).
                        lastConnectFailure = "\(candidate.host): TLSA look-up failed: \(error)"
                        connectNext()
                        return
                    case .failure(let error):
                        lastConnectFailure = "\(candidate.host): TLSA look-up failed: \(error)"
                        connectNext()
                        return
                    }
                    connect(to: candidate)
                }
            return
        }
        connect(to: candidate)
    }

    /// Opens the TCP (or Unix socket) connection to one candidate.
    func connect(to candidate: NextHopResolver.Candidate) {
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(Int64(options.connectTimeout)))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(self) }
            }
        if candidate.address.hasPrefix("/") {
            bootstrap.connect(unixDomainSocketPath: candidate.address).whenFailure { [self] error in
                lastConnectFailure = "\(candidate.address): \(error)"
                connectNext()
            }
            return
        }
        if let source = options.bindAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
            } catch {
                giveUp("451 4.4.0 bind_address \(source) is not usable: \(error)", permanent: false)
                return
            }
        }
        machine = nil
        parser = SMTPReplyParser()
        buffer.clear()
        bootstrap.connect(host: candidate.address, port: candidate.port).whenFailure { [self] error in
            lastConnectFailure = "\(candidate.address):\(candidate.port): \(error)"
            connectNext()
        }
    }

    /// No next hop: the current work (and the queue's, see QueueManager.unreachable) fails.
    func giveUp(_ reason: String, permanent: Bool) {
        if let work = current {
            current = nil
            manager.unreachable(self, work: work, reason: reason, permanent: permanent)
        }
        finishConnection()
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        guard let work = current else {
            context.close(promise: nil)
            return
        }
        let candidate = candidates[candidateIndex - 1]
        guard let envelope = prepare(work) else { return }
        var machine = SMTPClientStateMachine(
            envelope: envelope, heloName: heloName(for: work), tlsPolicy: tlsPolicy,
            lmtp: options.deliveryMethod == .lmtp)
        machine.remoteAddress = candidate.address
        machine.credentials = options.outboundAuth.map { auth in
            SMTPClientStateMachine.Credentials(
                user: auth.user, password: auth.password, mechanism: auth.mechanism,
                withoutTLS: options.outboundAuthWithoutTLS, problem: auth.problem)
        }
        self.machine = machine
        armTimeout()
    }

    var tlsPolicy: SMTPClientStateMachine.TLSPolicy {
        // An enforced MTA-STS policy or DANE requires TLS whatever else says (RFC 8461 §5,
        // RFC 7672 §2.2).
        if stsPolicy?.mode == .enforce || dane != nil { return .required }
        if let chosen = tlsOverride?.useTLS {
            return chosen == 0 ? .off : chosen == 1 ? .opportunistic : .required
        }
        switch options.tls {
        case .no: return .off
        case .ifavailable: return .opportunistic
        case .required: return .required
        }
    }

    func heloName(for work: DeliveryWork) -> String {
        switch options.ehloHostname {
        case "__hostname__": return manager.settings.hostname
        case "__message__":
            let domain = QueueManager.domain(of: work.message.entry.envelope.sender(of: work.recipients.first ?? 0))
            return domain.isEmpty ? manager.settings.hostname : domain
        default: return options.ehloHostname
        }
    }

    /// Reads the message from the spool and makes its SMTP envelope; nil (and the work
    /// reported as a temporary failure) when the spool cannot be read.
    func prepare(_ work: DeliveryWork) -> SMTPClientStateMachine.Envelope? {
        let entry = work.message.entry
        if segmentFile?.path != entry.path {
            closeSegmentFile()
            let fd = open(entry.path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { segmentFile = (entry.path, fd) }
        }
        var eightBit = entry.envelope.body?.uppercased() == "8BITMIME"
        do {
            guard let file = segmentFile else { throw SpoolError("open", entry.path, errno: errno) }
            // Whether the content has 8-bit octets decides MAIL's BODY parameter: one pass over
            // it, a piece at a time, before anything is sent.
            firstPiece = try entry.readData(from: file.fd, range: 0..<DeliveryLimits.pieceSize)
            eightBit = eightBit || firstPiece!.contains { $0 > 127 }
            var offset = firstPiece!.count
            while !eightBit && offset < entry.dataLength {
                let piece = try entry.readData(from: file.fd, range: offset..<(offset + DeliveryLimits.pieceSize))
                eightBit = piece.contains { $0 > 127 }
                offset += piece.count
            }
        } catch {
            current = nil
            manager.report(
                self, work: work,
                outcomes: work.recipients.map { _ in .transient("451 4.3.0 cannot read the spool: \(error)") },
                remoteAddress: "", remoteHost: nil, stage: 0, bytes: 0)
            quit()
            return nil
        }
        currentSize = entry.dataLength
        currentEntry = entry
        let envelope = entry.envelope
        return SMTPClientStateMachine.Envelope(
            mailFrom: envelope.sender(of: work.recipients.first ?? 0),
            recipients: work.recipients.map {
                let recipient = envelope.recipients[$0]
                return .init(
                    address: recipient.address, notify: recipient.notify, originalRecipient: recipient.originalRecipient
                )
            },
            size: entry.dataLength, eightBit: eightBit,
            needsSMTPUTF8: envelope.smtpUTF8, dsnReturn: envelope.dsnReturn, dsnEnvelopeID: envelope.dsnEnvelopeID)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while !closed, machine != nil, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            var line = buffer.readString(length: newline - buffer.readerIndex) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            do {
                guard let reply = try parser.feed(Substring(line)) else { continue }
                guard var machine else { return }
                let action = machine.received(reply)
                self.machine = machine
                perform(action)
            } catch {
                lost("protocol error from the next hop: \(error)")
            }
        }
        if buffer.readableBytes > 65536 { lost("reply line too long") }
        buffer.discardReadBytes()
    }

    func perform(_ action: SMTPClientStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .send(let lines):
            if lines.first?.hasPrefix("MAIL FROM:") == true, let machine, machine.needsSevenBit,
                options.transform8BitMIME != .no, !makeSevenBit()
            {
                return
            }
            var out = context.channel.allocator.buffer(capacity: 64)
            for line in lines { out.writeString(line + "\r\n") }
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            armTimeout()
        case .sendMessage:
            var stream = DotStuffedDataEncoder.Stream()
            if let converted = sevenBitMessage {
                sevenBitMessage = nil
                var out: [UInt8] = []
                out.reserveCapacity(converted.count + converted.count / 32 + 8)
                converted.withUnsafeBufferPointer { stream.encode($0, into: &out) }
                stream.finish(into: &out)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: out)), promise: nil)
                armTimeout()
                return
            }
            sendPiece(from: 0, stream: &stream, context: context)
        case .startTLS:
            // Whatever followed the 220 in plain text was sent before the handshake: it is never
            // read as a reply of the encrypted session (the client side of CVE-2011-0411).
            if buffer.readableBytes > 0 {
                manager.logger.warning(
                    "delivery: next hop sent plain text behind its 220 to STARTTLS; discarded",
                    metadata: ["octets": "\(buffer.readableBytes)", "domain": "\(key.domain)"])
                buffer.clear()
            }
            do {
                var parameters = OutboundTLSParameters(configured: options, policy: tlsOverride)
                // Enforced MTA-STS: the certificate must be valid for the MX host (RFC 8461 §4.2).
                if stsPolicy?.mode == .enforce { parameters.verify = .host }
                let tls = try parameters.clientConfiguration()
                // With tls_verify = host, the certificate must name the next hop (RFC 6125); a
                // next hop given as an address is checked against that address.
                let host = candidates[candidateIndex - 1].host
                let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                let hostname = parameters.verifiesHost && !isAddress ? host : nil
                let handler: NIOSSLClientHandler
                if let dane, !dane.records.isEmpty {
                    // DANE replaces the certificate authorities: the chain must match a TLSA record.
                    var daneTLS = tls
                    daneTLS.certificateVerification = .noHostnameVerification
                    let names = [host, key.domain]
                    let logger = manager.logger
                    handler = try NIOSSLClientHandler(
                        context: NIOSSLContext(configuration: daneTLS), serverHostname: isAddress ? nil : host,
                        customVerificationCallback: { chain, promise in
                            switch dane.verify(chain, names: names) {
                            case .matched: promise.succeed(.certificateVerified)
                            case .failed(let why):
                                logger.warning(
                                    "delivery: DANE: \(names[0]) presented a certificate no TLSA record vouches for: \(why)",
                                    metadata: ["domain": "\(names[1])"])
                                promise.succeed(.failed)
                            }
                        })
                } else {
                    handler = try NIOSSLClientHandler(
                        context: NIOSSLContext(configuration: tls), serverHostname: hostname)
                }
                try context.pipeline.syncOperations.addHandler(handler, position: .first)
                guard var machine else { return }
                let next = machine.tlsEstablished()
                self.machine = machine
                perform(next)
            } catch {
                lost("TLS: \(error)")
            }
        case .wait:
            armTimeout()
        case .finished(let outcomes, _):
            finishedTransaction(outcomes)
        }
    }

    /// Writes the message data from `offset` on, one piece at a time: the next piece is read
    /// when the previous one has been written, so a delivery holds one piece (and what the
    /// socket buffers), however large the message.
    func sendPiece(from offset: Int, stream: inout DotStuffedDataEncoder.Stream, context: ChannelHandlerContext) {
        guard let entry = currentEntry, let file = segmentFile, !closed else { return }
        var out: [UInt8] = []
        let piece: [UInt8]
        do {
            if offset == 0, let first = firstPiece {
                piece = first
                firstPiece = nil
            } else {
                piece = try entry.readData(from: file.fd, range: offset..<(offset + DeliveryLimits.pieceSize))
            }
        } catch {
            lost("cannot read the spool: \(error)")
            return
        }
        out.reserveCapacity(piece.count + piece.count / 32 + 8)
        piece.withUnsafeBufferPointer { stream.encode($0, into: &out) }
        let next = offset + piece.count
        let done = piece.isEmpty || next >= entry.dataLength
        if done { stream.finish(into: &out) }
        let written = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: out)))
        armTimeout()
        guard !done else { return }
        let bound = NIOLoopBound((connection: self, context: context, stream: stream), eventLoop: loop)
        written.whenSuccess {
            var stream = bound.value.stream
            bound.value.connection.sendPiece(from: next, stream: &stream, context: bound.value.context)
        }
    }

    /// The next hop has no 8BITMIME and the message is 8-bit: reads it whole and converts it
    /// (`transform_8bitmime_content`) before MAIL is sent. False when it cannot be (strict, or
    /// the spool cannot be read): the transaction is given up with the reason.
    func makeSevenBit() -> Bool {
        guard let entry = currentEntry, let file = segmentFile, var machine else { return false }
        let mode: SevenBitDowngrade.Mode
        switch options.transform8BitMIME {
        case .strict: mode = .strict
        case .strip: mode = .strip
        case .no, .ifneeded: mode = .ifNeeded
        }
        let outcome: SMTPClientStateMachine.RecipientOutcome
        do {
            let message = try entry.readData(from: file.fd, range: 0..<entry.dataLength)
            do {
                sevenBitMessage = try SevenBitDowngrade.convert(message, mode: mode)
                return true
            } catch {
                outcome = .permanent(
                    "554 5.6.3 the next hop does not take 8-bit mail (no 8BITMIME) and this message cannot be "
                        + "made 7-bit: \(error.description)")
            }
        } catch {
            outcome = .transient("451 4.3.0 cannot read the spool: \(error)")
        }
        let action = machine.abandonTransaction(outcome)
        self.machine = machine
        perform(action)
        return false
    }

    /// A transaction ended: report it, then take more work, wait idle or quit.
    func finishedTransaction(_ outcomes: [SMTPClientStateMachine.RecipientOutcome]) {
        guard let machine else { return }
        if machine.tlsActive {
            countTLSSession(failure: nil)
        } else if outcomes.contains(where: { "\($0)".contains("does not offer STARTTLS") }) {
            countTLSSession(failure: "starttls-not-supported")
        }
        let greetingFailed =
            current != nil && deliveries == 0 && (machine.stageCode == 12 || machine.stageCode == 10)
            && outcomes.allSatisfy { if case .transient = $0 { return true } else { return false } }
        if greetingFailed && candidateIndex < candidates.count {
            // This host greets with a temporary error: the next MX may do better.
            lastConnectFailure = "\(machine.remoteAddress): \(outcomes.first.map { "\($0)" } ?? "")"
            detachAndConnectNext()
            return
        }
        if let work = current {
            current = nil
            deliveries += 1
            manager.report(
                self, work: work, outcomes: outcomes, remoteAddress: machine.remoteAddress,
                remoteHost: candidates[candidateIndex - 1].host, stage: machine.stageCode, bytes: currentSize)
        }
        currentEntry = nil
        firstPiece = nil
        sevenBitMessage = nil
        guard machine.canStartAnotherTransaction,
            options.maxDeliveriesPerConnection == 0 || deliveries < options.maxDeliveriesPerConnection
        else {
            quit()
            return
        }
        let connectedHost = candidateIndex > 0 ? candidates[candidateIndex - 1].host : nil
        switch manager.next(for: self, connectedTo: connectedHost) {
        case .deliver(let work):
            begin(work)
        case .quit:
            quit()
        case .idle:
            deadline = .distantFuture
            let idle = max(options.idleTimeout, 0)
            idleTask = loop.scheduleTask(in: .seconds(Int64(idle))) { [self] in
                if manager.unpark(self) { quit() }
            }
        }
    }

    /// Another transaction on this connection.
    func begin(_ work: DeliveryWork) {
        guard var machine, !closed else {
            // The connection went away meanwhile: the work goes back as a temporary failure.
            manager.report(
                self, work: work,
                outcomes: work.recipients.map { _ in .transient("421 4.4.2 connection lost before the transaction") },
                remoteAddress: "", remoteHost: nil, stage: 1, bytes: 0)
            return
        }
        current = work
        guard let envelope = prepare(work) else { return }
        let action = machine.nextTransaction(envelope)
        self.machine = machine
        perform(action)
    }

    /// The queue manager hands this idle connection more work (on its loop).
    func resumeOnLoop(_ work: DeliveryWork) {
        idleTask?.cancel()
        begin(work)
    }

    /// Stop: an idle connection says QUIT (from any thread).
    func closeIdle() {
        loop.execute { [self] in quit() }
    }

    func quit() {
        guard let context, !closed else {
            finishConnection()
            return
        }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "QUIT\r\n")), promise: nil)
        context.close(promise: nil)
        finishConnection()
    }

    /// Closes this channel without reporting and tries the next candidate for the same work.
    func detachAndConnectNext() {
        deadline = .distantFuture
        if let context {
            self.context = nil
            context.close(promise: nil)
        }
        machine = nil
        connectNext()
    }

    /// A TLS-RPT session (RFC 8460) to a domain with an MTA-STS policy: counted once per
    /// connection, a success or a failure of that type.
    func countTLSSession(failure: String?) {
        guard let policy = stsPolicy, policy.mode != .none, !stsCounted else { return }
        stsCounted = true
        manager.mtaSTS?.count(key.domain, failure: failure)
    }

    /// The connection broke or timed out.
    func lost(_ reason: String) {
        guard !closed else { return }
        if reason.contains("TLS") { countTLSSession(failure: "validation-failure") }
        if let work = current, let machine {
            if deliveries == 0 && (machine.stageCode == 12 || machine.stageCode == 10)
                && candidateIndex < candidates.count
            {
                lastConnectFailure = "\(machine.remoteAddress): \(reason)"
                detachAndConnectNext()
                return
            }
            current = nil
            manager.report(
                self, work: work,
                outcomes: machine.connectionLost(reason).map {
                    // The outcomes the next hop's own replies decided stay; the rest lost the connection.
                    if case .transient(let text) = $0, text == reason { return .transient("421 4.4.2 \(reason)") }
                    if case .transient("no reply to RCPT") = $0 { return .transient("421 4.4.2 \(reason)") }
                    return $0
                }, remoteAddress: machine.remoteAddress, remoteHost: candidates[candidateIndex - 1].host,
                stage: machine.stageCode, bytes: currentSize)
        } else if machine == nil && current != nil {
            // Not even a greeting.
            detachAndConnectNext()
            return
        }
        _ = manager.unpark(self)
        context?.close(promise: nil)
        finishConnection()
    }

    /// The connection is over for good: give its slot back (once).
    func finishConnection() {
        guard !closed else { return }
        closed = true
        timeoutTask?.cancel()
        idleTask?.cancel()
        closeSegmentFile()
        manager.connectionClosed(self)
    }

    func closeSegmentFile() {
        if let segmentFile { close(segmentFile.fd) }
        segmentFile = nil
    }

    func armTimeout() {
        guard let machine else { return }
        switch machine.waitingFor {
        case .greeting, .ehlo: waitSeconds = options.ehloTimeout
        case .mail: waitSeconds = options.mailFromTimeout
        case .recipients, .data: waitSeconds = options.rcptToTimeout
        case .body: waitSeconds = options.bodyTimeout
        }
        deadline = .now() + .seconds(Int64(waitSeconds))
        if timeoutTask == nil || deadline < checkAt {
            timeoutTask?.cancel()
            scheduleTimeoutCheck()
        }
    }

    /// Fires at the deadline as it was when scheduled; a later deadline re-arms it, none ends it.
    func scheduleTimeoutCheck() {
        checkAt = deadline
        timeoutTask = loop.scheduleTask(deadline: deadline) { [self] in
            timeoutTask = nil
            guard !closed, deadline != .distantFuture else { return }
            if NIODeadline.now() >= deadline {
                lost("timeout after \(waitSeconds) s waiting for the next hop (stage \(machine?.stageCode ?? 0))")
            } else {
                scheduleTimeoutCheck()
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard self.context === context else { return }
        lost("connection closed by the next hop")
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard self.context === context else { return }
        // A failed handshake (an unverifiable certificate …) says so.
        let tls = error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
        lost("\(tls ? "TLS handshake failed" : "connection error"): \(error)")
    }
}
