import ImpulseConfig
import NIOCore
import SMTPProtocol
import SenderAuth
import Spool

/// DKIM at reception (the opendkim stanza): with `authentication_results`, the message's
/// signatures are verified and an Authentication-Results field added (fields forged with Impulse's
/// authserv-id removed first); then the message is signed. Both happen after every change the
/// policy made and before the spool write, so the signature covers exactly what is spooled and
/// delivered, and both run on the blocking-work threads (key look-ups wait for the resolver, an
/// RSA signature is CPU work a loop should not do).
extension SMTPServerHandler {
    /// What the blocking-work thread did to a message.
    struct ReceptionDKIMOutcome: Sendable {
        /// The message to spool when it changed (forged fields removed), else nil.
        var replaced: [UInt8]?
        /// Fields to put above it (Authentication-Results, DKIM-Signature).
        var fields: [String] = []
        var signingFailure: DKIMSigningFailure?
        /// The verification's result words, one per signature ("none" for an unsigned message).
        var verdicts: [String] = []
    }

    func signThenSpool(_ envelope: SpoolEnvelope, _ parts: [ByteBuffer], context: ChannelHandlerContext) {
        guard let signing = services.signing.value else {
            submitToSpool(envelope, parts, context: context)
            return
        }
        let verify = signing.policy.configuration.authenticationResults
        let domains = Set(envelope.recipients.map { String($0.address.split(separator: "@").last ?? "") })
        let sign = signing.allowed(binding: envelope.binding ?? "default", domains: domains)
        guard verify || sign else {
            submitToSpool(envelope, parts, context: context)
            return
        }
        var message: [UInt8] = []
        message.reserveCapacity(parts.reduce(0) { $0 + $1.readableBytes })
        for part in parts { message += part.readableBytesView }
        var plan: DKIMSigningPlan?
        var planFailure: DKIMSigningFailure?
        if sign {
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
            case .failure(let failure):
                if !verify {
                    signingFailed(failure, envelope, parts, action: signing.policy.failureAction, context: context)
                    return
                }
                planFailure = failure
            }
        }
        guard verify || plan != nil else {
            submitToSpool(envelope, parts, context: context)
            return
        }
        let authservID = signing.policy.configuration.authservID ?? services.hostname
        let (received, chosenPlan, failedPlan) = (message, plan, planFailure)
        let resolver = services.effects.resolver
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let action = signing.policy.failureAction
        let effects = services.effects
        let policy = signing.policy
        let loop = context.eventLoop
        let keys = verify ? effects.prefetchDKIMKeys(received, on: loop) : loop.makeSucceededFuture([:])
        keys.flatMap { keys in
            effects.blockingWork.runIfActive(eventLoop: loop) { () -> ReceptionDKIMOutcome in
                var outcome = ReceptionDKIMOutcome()
                outcome.signingFailure = failedPlan
                var signed = received
                if verify {
                    if let cleaned = AuthenticationResults.removingForged(received, authservID: authservID) {
                        outcome.replaced = cleaned
                        signed = cleaned
                    }
                    let verification =
                        (try? ScriptDKIM.verify(signed, resolver: resolver, prefetched: keys).get())
                        ?? DKIMVerification(status: 7, statusText: "internal error", signatures: [])
                    outcome.verdicts =
                        verification.signatures.isEmpty ? ["none"] : verification.signatures.map(\.result)
                    let field = AuthenticationResults.field(authservID: authservID, dkim: verification)
                    outcome.fields.append(field)
                    signed = Array(field.utf8) + signed
                }
                if let plan = chosenPlan {
                    switch policy.sign(signed, plan: plan) {
                    case .success(let signatures): outcome.fields.insert(contentsOf: signatures, at: 0)
                    case .failure(let failure): outcome.signingFailure = failure
                    }
                }
                return outcome
            }
        }.whenComplete { result in
            let handler = bound.value
            guard let context = handler.context else {
                // The client left before its reply: nothing was acknowledged, nothing is kept.
                handler.releaseMemory()
                return
            }
            switch result {
            case .success(let outcome):
                for verdict in outcome.verdicts { handler.services.statistics.signing.verified(verdict) }
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
                    DKIMSigningFailure(domain: chosenPlan?.domain ?? "?", message: "\(error)"), envelope, parts,
                    action: action, context: context)
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
