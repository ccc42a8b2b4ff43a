import ImpulseConfig
import NIOCore
import SMTPProtocol
import SenderAuth
import Spool

/// DKIM signing at reception (the opendkim stanza): after every change the policy made and before
/// the spool write, so the signature covers exactly what is spooled and delivered. The signature
/// is computed on the blocking-work threads (an RSA signature is CPU work a loop should not do).
extension SMTPServerHandler {
    func signThenSpool(_ envelope: SpoolEnvelope, _ parts: [ByteBuffer], context: ChannelHandlerContext) {
        let domains = envelope.recipients.map { String($0.address.split(separator: "@").last ?? "") }
        guard let signing = services.signing.value,
            signing.allowed(binding: envelope.binding ?? "default", domains: domains)
        else {
            submitToSpool(envelope, parts, context: context)
            return
        }
        var message: [UInt8] = []
        message.reserveCapacity(parts.reduce(0) { $0 + $1.readableBytes })
        for part in parts { message += part.readableBytesView }
        let headerEnd = message.withUnsafeBytes { HeaderSection.emptyLineOffset(in: $0) } ?? message.count
        let plan = signing.policy.plan(headerSection: Array(message[..<headerEnd])) { [self] key in
            if key == "can_relay" && machine.clientMayRelay { return "true" }
            guard let policyState, policySessionOpen else { return nil }
            return policyState.context(sessionID, message: true, key)
                ?? policyState.context(sessionID, message: false, key)
        }
        switch plan {
        case nil:
            submitToSpool(envelope, parts, context: context)
        case .failure(let failure):
            signingFailed(failure, envelope, parts, action: signing.policy.failureAction, context: context)
        case .success(let plan):
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let action = signing.policy.failureAction
            services.effects.blockingWork.runIfActive(eventLoop: context.eventLoop) {
                DKIMSigningPolicy.sign(message, plan: plan)
            }.whenComplete { result in
                let handler = bound.value
                guard let context = handler.context else { return }
                switch result {
                case .success(.success(let field)):
                    handler.submitToSpool(envelope, [ByteBuffer(string: field)] + parts, context: context)
                case .success(.failure(let failure)):
                    handler.signingFailed(failure, envelope, parts, action: action, context: context)
                case .failure(let error):
                    handler.signingFailed(
                        DKIMSigningFailure(domain: plan.request.domain, message: "\(error)"), envelope, parts,
                        action: action, context: context)
                }
            }
        }
    }

    /// A message that should have been signed and was not: logged with the domain, then spooled
    /// unsigned or refused with a temporary error (signing_failure), never lost.
    func signingFailed(
        _ failure: DKIMSigningFailure, _ envelope: SpoolEnvelope, _ parts: [ByteBuffer],
        action: DKIMSigningConfiguration.FailureAction, context: ChannelHandlerContext
    ) {
        logger.error(
            "dkim: \(failure)",
            metadata: ["id": "\(envelope.id)", "client": "\(clientLabel)", "action": "\(action.rawValue)"])
        switch action {
        case .deliverUnsigned: submitToSpool(envelope, parts, context: context)
        case .tempfail: spoolFinished(success: false, context: context)
        }
    }
}
