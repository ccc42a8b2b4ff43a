import Foundation
import ImpulseConfig
import Logging
import NIOCore
import PolicyRuntime
import SMTPProtocol
import SMTPServer
import Scriptlet
import SenderAuth
import Spool
import TransmissionFormat

/// Injects one transmission on the event loop that received it (docs/http-api.md): for each
/// recipient, builds its message, runs the policy's msg_gen callouts, signs it (the opendkim
/// stanza) and hands it to the spool writer. Writes are pipelined, so one fsync covers many
/// messages; `completion` runs once every write has finished, never before: an `accepted`
/// result means the message is on disk.
final class TransmissionInjector {
    struct Client {
        var address: String
        var port: Int
        var listener: (ip: String, port: Int)
        /// The authenticated user or token label, and the scheme ("basic", "bearer").
        var identity: (user: String, scheme: String)?
    }

    let transmission: Transmission
    let client: Client
    let services: ServerServices
    let loop: EventLoop
    let logger: Logger
    /// The configured `context` seeds and relay permission every injected message's session gets.
    let connectionContext: [(String, String)]
    private var results: [RecipientResult?]
    private var next = 0
    private var outstanding = 0
    private var completion: (([RecipientResult]) -> Void)?
    private let hostname: String
    private let parser = MailPathParser(limits: SMTPLimits(), allowUTF8: true)
    private static let policyTimeout = TimeAmount.seconds(300)
    /// The transmission's return_path is one for all its recipients: checked once.
    private lazy var senderIsValid =
        transmission.returnPath.isEmpty
        || (try? parser.parseReversePath(Substring("<\(transmission.returnPath)>"))) != nil

    init(
        _ transmission: Transmission, client: Client, services: ServerServices, loop: EventLoop, logger: Logger,
        connectionContext: [(String, String)]
    ) {
        self.transmission = transmission
        self.client = client
        self.services = services
        self.loop = loop
        self.logger = logger
        self.connectionContext = connectionContext
        self.hostname = services.hostname
        results = Array(repeating: nil, count: transmission.recipients.count)
    }

    func run(_ completion: @escaping ([RecipientResult]) -> Void) {
        self.completion = completion
        proceed()
    }

    /// Works through the recipients one message at a time (policy states are per loop and run
    /// one callout at a time); spool writes overlap.
    /// A large transmission yields the loop every `messagesPerTurn` messages, so the sessions
    /// sharing it are served in between.
    private func proceed() {
        var thisTurn = 0
        while next < transmission.recipients.count {
            if thisTurn == Self.messagesPerTurn {
                let bound = NIOLoopBound(self, eventLoop: loop)
                loop.execute { bound.value.proceed() }
                return
            }
            let index = next
            next += 1
            thisTurn += 1
            if prepare(index) { return } // a policy callout is waiting; it calls proceed() again
        }
        finishIfDone()
    }

    private static let messagesPerTurn = 32

    private func finishIfDone() {
        guard next >= transmission.recipients.count, outstanding == 0, let completion else { return }
        self.completion = nil
        completion(results.map { $0 ?? .rejected(code: 451, reason: "4.3.0 not processed") })
    }

    /// Builds recipient `index`'s message and starts its policy run; true when the run waits.
    private func prepare(_ index: Int) -> Bool {
        let recipient = transmission.recipients[index]
        guard (try? parser.parseForwardPath(Substring("<\(recipient.address)>")))?.domain.isEmpty == false else {
            results[index] = .rejected(code: 553, reason: "5.1.3 '\(recipient.address)' is not a valid address")
            return false
        }
        guard senderIsValid else {
            results[index] = .rejected(code: 553, reason: "5.1.7 '\(transmission.returnPath)' is not a valid sender")
            return false
        }
        let now = Date()
        let id = services.idGenerator.next(now: now)
        let metadataContext = messageContext(recipient)
        let message: [UInt8]
        do {
            message = try MessageComposer(hostname: hostname, date: ReceivedHeader.rfc5322Date(now)).compose(
                transmission, for: recipient, messageID: id)
        } catch {
            results[index] = .rejected(code: 554, reason: "5.6.0 \(error)")
            return false
        }
        guard services.memory.charge(message.count) else {
            results[index] = .rejected(code: 452, reason: "4.3.1 insufficient system resources, try again later")
            return false
        }
        var envelope = SpoolEnvelope(
            id: id, receivedAtMicros: Int64(now.timeIntervalSince1970 * 1_000_000), mailFrom: transmission.returnPath,
            recipients: [SpoolEnvelope.Recipient(address: recipient.address)], peerAddress: client.address,
            peerPort: client.port, helo: "", receivedProtocol: "HTTP", listener: "http",
            context: Dictionary(metadataContext, uniquingKeysWith: { _, last in last }))
        if let identity = client.identity { envelope.context["auth_user"] = identity.user }
        guard let state = services.policyState(for: loop), Self.hasPolicy(state) else {
            spool(index, envelope, message, modified: nil, now: now)
            return false
        }
        let sessionID = services.makeSessionID()
        state.openSession(
            sessionID, connectionContext: connectionContext + identityContext,
            peer: (client.address, client.port), listener: client.listener)
        state.beginMessage(sessionID)
        state.offerMessage(sessionID, size: message.count, messageID: id) { message }
        let sender = transmission.returnPath
        let at = sender.lastIndex(of: "@")
        state.setContexts(
            sessionID,
            [
                ContextUpdate(message: true, key: "mailfrom_address", value: sender),
                ContextUpdate(
                    message: true, key: "mailfrom_localpart", value: at.map { String(sender[..<$0]) } ?? sender),
                ContextUpdate(
                    message: true, key: "mailfrom_domain",
                    value: at.map { String(sender[sender.index(after: $0)...]) } ?? "")
            ] + Self.recipientContext(recipient.address)
                + metadataContext.map { ContextUpdate(message: true, key: $0.0, value: $0.1) })
        let address = recipient.address
        state.recipientSource[sessionID] = { ([address], true) }
        let run = InjectionPolicyRun(
            state: state, session: sessionID, loop: loop, effects: services.effects,
            origin: .init(label: "http \(client.address)", limits: SMTPLimits()), timeout: Self.policyTimeout)
        var waited = false
        var finished = false
        run.run { [self] outcome in
            finished = true
            var changes = run.changes
            let modified = state.takeModifiedMessage(sessionID)
            if case .proceed = outcome, state.hasRoutingDomainHook {
                // core_config_get_message_routing_domain has the last word, as for SMTP.
                let domain = changes.routingDomain ?? String(address.split(separator: "@").last ?? "")
                switch state.routingDomain(session: sessionID, defaultDomain: domain) {
                case .success(let chosen?): changes.routingDomain = chosen
                case .success: break
                case .failure(let failure): logFailure(failure)
                }
            }
            if let failure = state.closeSession(sessionID) { logFailure(failure) }
            decided(
                index, outcome, changes: changes, envelope: envelope, message: message, modified: modified, now: now)
            if waited { proceed() }
        }
        waited = !finished
        return waited
    }

    private var identityContext: [(String, String)] {
        guard let identity = client.identity else { return [] }
        return [
            ("auth_user", identity.user), ("auth_name", "HTTP-\(identity.scheme.uppercased())"), ("auth_status", "pass")
        ]
    }

    private static func hasPolicy(_ state: PolicyState) -> Bool {
        InjectionPolicyRun.steps.contains { state.implements($0.0) } || state.hasRoutingDomainHook
    }

    /// The message-context keys of the transmission's metadata (Momentum's REST conventions):
    /// `mo_rcpt_meta` holds the recipient's metadata merged over the transmission's as JSON,
    /// `mo_campaign_id` the campaign; each scalar metadata member is also a key of its own.
    func messageContext(_ recipient: Transmission.Recipient) -> [(String, String)] {
        var merged: [(String, JSONValue)] = []
        for source in [transmission.metadata, recipient.metadata] {
            guard case .object(let members)? = source else { continue }
            for (key, value) in members {
                merged.removeAll { $0.0 == key }
                merged.append((key, value))
            }
        }
        var context: [(String, String)] = []
        if !merged.isEmpty { context.append(("mo_rcpt_meta", JSONValue.object(merged).serialized)) }
        if let campaign = transmission.campaignID { context.append(("mo_campaign_id", campaign)) }
        for (key, value) in merged {
            switch value {
            case .string(let text): context.append((key, text))
            case .number, .bool: context.append((key, value.serialized))
            default: break
            }
        }
        return context
    }

    static func recipientContext(_ address: String) -> [ContextUpdate] {
        let at = address.lastIndex(of: "@")
        return [
            ContextUpdate(message: true, key: "rcptto_address", value: address),
            ContextUpdate(message: true, key: "rcptto_localpart", value: at.map { String(address[..<$0]) } ?? address),
            ContextUpdate(
                message: true, key: "rcptto_domain",
                value: at.map { String(address[address.index(after: $0)...]) } ?? "")
        ]
    }

    private func decided(
        _ index: Int, _ outcome: CalloutOutcome, changes: PolicyChanges, envelope: SpoolEnvelope, message: [UInt8],
        modified: PolicyState.ModifiedMessage?, now: Date
    ) {
        switch outcome {
        case .proceed:
            break
        case .reply(let code, let text) where code < 400:
            _ = text
        case .reply(let code, let text), .disconnect(let code, let text):
            services.memory.release(message.count)
            let reply = SMTPSessionStateMachine.policyReply(code: code, text: text, fallback: "Rejected by policy")
            let text = reply.lines.joined(separator: " ")
            results[index] = .rejected(code: reply.code, reason: reply.enhancedCode.map { "\($0) \(text)" } ?? text)
            return
        case .failed(let failure):
            logFailure(failure)
            services.memory.release(message.count)
            results[index] = .rejected(code: 451, reason: "4.3.0 local error in policy")
            return
        }
        var envelope = envelope
        if let reason = changes.discard {
            services.memory.release(message.count)
            services.statistics.messageDiscarded()
            logger.notice(
                "scriptlet: message discarded by policy",
                metadata: ["client": "\(client.address)", "id": "\(envelope.id)", "reason": "\(reason)"])
            results[index] = .accepted(id: envelope.id)
            return
        }
        if let sender = changes.mailFrom { envelope.mailFrom = sender }
        for (old, new) in changes.recipientRewrites where envelope.recipients[0].address == old {
            if (try? parser.parseForwardPath(Substring("<\(new)>")))?.domain.isEmpty == false {
                envelope.recipients[0].address = new
            } else {
                logger.warning("scriptlet: recipient '\(new)' set by a script is not a valid address; kept '\(old)'")
            }
        }
        envelope.binding = changes.binding
        envelope.bindingGroup = changes.bindingGroup
        if let priority = changes.priority { envelope.priority = priority }
        if let domain = changes.routingDomain { envelope.routingDomain = domain }
        spool(index, envelope, message, modified: modified, now: now)
    }

    /// Received:, the message (as a script changed it), DKIM signatures when the opendkim stanza
    /// signs it, then the spool writer.
    private func spool(
        _ index: Int, _ envelope: SpoolEnvelope, _ message: [UInt8], modified: PolicyState.ModifiedMessage?, now: Date
    ) {
        let received = ReceivedHeader.make(
            helo: client.address, client: client.address, byHost: services.hostname, protocolName: "HTTP",
            id: envelope.id, recipient: envelope.recipients[0].address, tls: nil, date: now)
        let original = ByteBuffer(bytes: message)
        let body = modified.map { PolicyState.apply($0, to: original) } ?? [original]
        let charged = message.count
        outstanding += 1
        let signing = services.signing.value
        let domains: Set<String> = [String(envelope.recipients[0].address.split(separator: "@").last ?? "")]
        guard let signing, signing.allowed(binding: envelope.binding ?? "default", domains: domains) else {
            submit(index, envelope, [received] + body, charged: charged)
            return
        }
        let whole = body.reduce(into: [UInt8]()) { $0 += $1.readableBytesView }
        let headerEnd = whole.withUnsafeBytes { HeaderSection.emptyLineOffset(in: $0) } ?? whole.count
        let identity = client.identity
        let plan = signing.policy.plan(headerSection: Array(whole[..<headerEnd])) { key in
            key == "can_relay" ? "true" : key == "auth_user" ? identity?.user : envelope.context[key]
        }
        let binding = envelope.binding ?? "default"
        switch plan {
        case nil:
            submit(index, envelope, [received] + body, charged: charged)
        case .failure(let failure)?:
            signingFailed(index, failure, envelope, [received] + body, charged: charged, policy: signing.policy)
        case .success(let chosen)?:
            let policy = signing.policy
            let bound = NIOLoopBound(self, eventLoop: loop)
            services.effects.blockingWork.runIfActive(eventLoop: loop) { policy.sign(whole, plan: chosen) }
                .whenComplete { result in
                    let injector = bound.value
                    switch result {
                    case .success(.success(let signatures)):
                        for _ in chosen.keys {
                            injector.services.statistics.signing.signing(
                                domain: chosen.domain, binding: binding, failed: false)
                        }
                        injector.submit(
                            index, envelope, signatures.map { ByteBuffer(string: $0) } + [received] + body,
                            charged: charged)
                    case .success(.failure(let failure)):
                        injector.signingFailed(
                            index, failure, envelope, [received] + body, charged: charged, policy: policy)
                    case .failure(let error):
                        injector.signingFailed(
                            index, DKIMSigningFailure(domain: chosen.domain, message: "\(error)"), envelope,
                            [received] + body, charged: charged, policy: policy)
                    }
                }
        }
    }

    private func signingFailed(
        _ index: Int, _ failure: DKIMSigningFailure, _ envelope: SpoolEnvelope, _ parts: [ByteBuffer], charged: Int,
        policy: DKIMSigningPolicy
    ) {
        services.statistics.signing.signing(
            domain: failure.domain, binding: envelope.binding ?? "default", failed: true)
        logger.error(
            "dkim: \(failure)",
            metadata: [
                "id": "\(envelope.id)", "client": "\(client.address)", "action": "\(policy.failureAction.rawValue)"
            ])
        switch policy.failureAction {
        case .deliverUnsigned: submit(index, envelope, parts, charged: charged)
        case .tempfail:
            written(index, envelope, charged: charged, success: false)
        }
    }

    private func submit(_ index: Int, _ envelope: SpoolEnvelope, _ parts: [ByteBuffer], charged: Int) {
        let promise = loop.makePromise(of: Void.self)
        services.spoolWriter.submit(.init(envelope: envelope, data: parts, promise: promise))
        let bound = NIOLoopBound(self, eventLoop: loop)
        promise.futureResult.whenComplete { result in
            let success: Bool
            if case .success = result { success = true } else { success = false }
            bound.value.written(index, envelope, charged: charged, success: success)
        }
    }

    private func written(_ index: Int, _ envelope: SpoolEnvelope, charged: Int, success: Bool) {
        services.memory.release(charged)
        outstanding -= 1
        if success {
            services.statistics.messageReceived(
                recipientDomains: envelope.recipients.map { String($0.address.split(separator: "@").last ?? "") },
                binding: envelope.binding ?? "default")
            results[index] = .accepted(id: envelope.id)
        } else {
            results[index] = .rejected(code: 451, reason: "4.3.0 could not store the message, try again later")
        }
        finishIfDone()
    }

    private func logFailure(_ failure: ScriptletFailure) {
        for line in failure.paniclogLines {
            logger.error("\(line)", metadata: ["client": "http \(client.address)", "script": "\(failure.script)"])
        }
    }
}
