import ImpulseConfig
import NIOCore
import SMTPProtocol
import SenderAuth
import Spool

/// At the spool write: the sender-authentication fields (Received-SPF, Authentication-Results,
/// with fields forged with Impulse's authserv-id removed first) and the DKIM signatures of the
/// opendkim stanza. Both come after every change the policy made and before the spool write, so
/// the signature covers exactly what is spooled and delivered; signing runs on the blocking-work
/// threads (an RSA signature is CPU work a loop should not do).
extension SMTPServerHandler {
    /// What the blocking-work thread did to a message.
    struct ReceptionDKIMOutcome: Sendable {
        /// The message to spool when it changed (forged fields removed), else nil.
        var replaced: [UInt8]?
        /// Fields to put above it (DKIM-Signature, Authentication-Results, Received-SPF).
        var fields: [String] = []
        var signingFailure: DKIMSigningFailure?
    }

    func signThenSpool(_ envelope: SpoolEnvelope, _ parts: [ByteBuffer], context: ChannelHandlerContext) {
        let authentication = self.authentication
        if let authentication, authentication.verifiesDKIM || authentication.dmarc != nil, messageAuthentication == nil,
            let message = parts.last
        {
            // No data callout ran: the message is checked now, as received.
            authenticateMessage(Array(message.readableBytesView), context: context) { handler, outcome in
                guard let context = handler.context else {
                    handler.releaseMemory()
                    return
                }
                if let refusal = handler.dmarcRefusal(outcome) {
                    handler.messageAuthentication = nil
                    handler.releaseMemory()
                    handler.perform(
                        handler.machine.spoolRefused(SMTPReply(refusal.code, nil, [refusal.text])), context: context)
                    handler.mode = .command
                    handler.process(context: context)
                    context.flush()
                    if context.channel.isWritable { handler.resumeReading(context: context) }
                    return
                }
                handler.signThenSpool(envelope, parts, context: context)
            }
            return
        }
        let checks = messageAuthentication
        messageAuthentication = nil
        var authenticationFields: [String] = []
        if authentication?.spf?.receivedSPF == true, let report = spfReport, !report.result.receivedSPF.isEmpty {
            authenticationFields.append(report.result.receivedSPF + "\r\n")
        }
        let authservID = authentication?.authservID ?? services.hostname
        let addsResults = authentication?.authenticationResults == true
        if addsResults {
            authenticationFields.insert(
                AuthenticationResults.field(
                    authservID: authservID, dkim: checks?.dkim,
                    spf: authentication?.checksSPF == true ? spfReport : nil,
                    dmarc: checks?.dmarc), at: 0)
        }
        let signing = services.signing.value
        let domains = Set(envelope.recipients.map { String($0.address.split(separator: "@").last ?? "") })
        let sign = signing?.allowed(binding: envelope.binding ?? "default", domains: domains) == true
        guard addsResults || sign else {
            submitToSpool(envelope, authenticationFields.map { ByteBuffer(string: $0) } + parts, context: context)
            return
        }
        var message: [UInt8] = []
        message.reserveCapacity(parts.reduce(0) { $0 + $1.readableBytes })
        for part in parts { message += part.readableBytesView }
        var plan: DKIMSigningPlan?
        var planFailure: DKIMSigningFailure?
        if sign, let signing {
            let headerEnd = message.withUnsafeBytes { HeaderSection.emptyLineOffset(in: $0) } ?? message.count
            let decided = signing.policy.plan(headerSection: Array(message[..<headerEnd])) { [self] key in
                if key == "can_relay" && machine.clientMayRelay { return "true" }
                guard let policyState, policySessionOpen else { return nil }
                return policyState.context(sessionID, message: true, key)
                    ?? policyState.context(sessionID, message: false, key)
            }
            switch decided {
            case nil: break
            case .success(let made): plan = made
            case .failure(let failure): planFailure = failure
            }
        }
        let action = signing?.policy.failureAction ?? .deliverUnsigned
        if let planFailure, !addsResults {
            signingFailed(
                planFailure, envelope, authenticationFields.map { ByteBuffer(string: $0) } + parts, action: action,
                context: context)
            return
        }
        guard addsResults || plan != nil else {
            submitToSpool(envelope, authenticationFields.map { ByteBuffer(string: $0) } + parts, context: context)
            return
        }
        let (received, chosenPlan, failedPlan, fields) = (message, plan, planFailure, authenticationFields)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let policy = signing?.policy
        services.effects.blockingWork.runIfActive(eventLoop: context.eventLoop) { () -> ReceptionDKIMOutcome in
            var outcome = ReceptionDKIMOutcome()
            outcome.signingFailure = failedPlan
            outcome.fields = fields
            var signed = received
            if addsResults, let cleaned = AuthenticationResults.removingForged(received, authservID: authservID) {
                outcome.replaced = cleaned
                signed = cleaned
            }
            if let plan = chosenPlan, let policy {
                switch policy.sign(Array(fields.joined().utf8) + signed, plan: plan) {
                case .success(let signatures): outcome.fields.insert(contentsOf: signatures, at: 0)
                case .failure(let failure): outcome.signingFailure = failure
                }
            }
            return outcome
        }.whenComplete { result in
            let handler = bound.value
            guard let context = handler.context else {
                // The client left before its reply: nothing was acknowledged, nothing is kept.
                handler.releaseMemory()
                return
            }
            switch result {
            case .success(let outcome):
                if outcome.signingFailure == nil, let plan = chosenPlan {
                    for _ in plan.keys {
                        handler.services.statistics.signing.signing(
                            domain: plan.domain, binding: envelope.binding ?? "default", failed: false)
                    }
                }
                var spooled = outcome.replaced.map { [ByteBuffer(bytes: $0)] } ?? parts
                spooled = outcome.fields.map { ByteBuffer(string: $0) } + spooled
                if let failure = outcome.signingFailure {
                    handler.signingFailed(failure, envelope, spooled, action: action, context: context)
                } else {
                    handler.submitToSpool(envelope, spooled, context: context)
                }
            case .failure(let error):
                handler.signingFailed(
                    DKIMSigningFailure(domain: chosenPlan?.domain ?? "?", message: "\(error)"), envelope,
                    fields.map { ByteBuffer(string: $0) } + parts, action: action, context: context)
            }
        }
    }

    /// A message that should have been signed and was not: logged with the domain, then spooled
    /// unsigned or refused with a temporary error (signing_failure), never lost.
    func signingFailed(
        _ failure: DKIMSigningFailure, _ envelope: SpoolEnvelope, _ parts: [ByteBuffer],
        action: DKIMSigningConfiguration.FailureAction, context: ChannelHandlerContext
    ) {
        services.statistics.signing.signing(
            domain: failure.domain, binding: envelope.binding ?? "default", failed: true)
        logger.error(
            "dkim: \(failure)",
            metadata: ["id": "\(envelope.id)", "client": "\(clientLabel)", "action": "\(action.rawValue)"])
        switch action {
        case .deliverUnsigned: submitToSpool(envelope, parts, context: context)
        case .tempfail: spoolFinished(success: false, context: context)
        }
    }
}
