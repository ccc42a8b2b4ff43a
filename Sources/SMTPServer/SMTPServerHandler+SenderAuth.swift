import ImpulseConfig
import NIOCore
import SMTPProtocol
import Scriptlet
import SenderAuth

/// Who sent the message: SPF before validate_mailfrom runs (RFC 7208 §2.4: at MAIL FROM, so a
/// script and `reject_fail` can act on it), DKIM and DMARC when the message is complete and
/// before the data callouts (they verify what the client sent, before any script edits it). The
/// look-ups go through Impulse's resolver without holding a thread; the results reach the message
/// context, the counters, and at the spool write the Received-SPF and Authentication-Results fields.
extension SMTPServerHandler {
    /// What DKIM verification and DMARC found for the current message.
    package struct MessageAuthentication: Sendable {
        var dkim: DKIMVerification?
        var dmarc: DMARCOutcome?
    }

    /// Checks SPF for the MAIL command `consult` is about, then consults with the results added
    /// to the message context (or refuses the sender with 550 5.7.23 under `reject_fail`).
    func checkSender(_ consult: SMTPSessionStateMachine.Action, context: ChannelHandlerContext) {
        guard case .consult(let callout, let text, let updates, let newMessage) = consult,
            case .mail(let sender, _)? = machine.pending
        else { return }
        let spf = authentication?.spf
        let helo = machine.heloName ?? ""
        let ip = machine.clientAddress.description
        let receiver = services.hostname
        let resolver = services.effects.resolver
        let loop = context.eventLoop
        let mailFrom = sender.map { SPFReport.Identity(address: $0.description, domain: $0.domain, fromHelo: false) }
        let heloIdentity = SPFReport.Identity(address: "postmaster@" + helo, domain: helo, fromHelo: true)
        // A null sender's MAIL FROM identity is the HELO identity (RFC 7208 §2.4).
        let checked = mailFrom ?? heloIdentity
        let checkHelo = spf?.checkHelo == true && mailFrom != nil && !helo.isEmpty
        mode = .waiting
        context.flush()
        let main = SPFChecker.check(
            ip: ip, sender: checked.address, helo: helo, receiver: receiver, resolver: resolver, on: loop)
        let heloCheck =
            checkHelo
            ? SPFChecker.check(
                ip: ip, sender: heloIdentity.address, helo: helo, receiver: receiver, resolver: resolver, on: loop)
            : loop.makeSucceededFuture(nil)
        let bound = NIOLoopBound(self, eventLoop: loop)
        main.and(heloCheck).whenSuccess { results in
            let handler = bound.value
            guard let context = handler.context, case .waiting = handler.mode else { return }
            let result = results.0 ?? .unavailable
            handler.spfReport = SPFReport(
                result: result, identity: checked.fromHelo ? helo : checked.address, domain: checked.domain,
                fromHelo: checked.fromHelo)
            handler.services.statistics.signing.checked(.spf, result.result)
            var contextUpdates = updates
            contextUpdates.append(PolicyContextUpdate(message: true, key: "spf_status", value: result.result))
            if let heloResult = results.1 {
                contextUpdates.append(
                    PolicyContextUpdate(message: true, key: "spf_helo_status", value: heloResult.result))
            }
            handler.mode = .command
            handler.lastActivity = .now()
            if spf?.rejectFail == true && result.result == "fail" {
                handler.perform(
                    handler.machine.policyDecided(
                        .reply(code: 550, text: "5.7.23 SPF validation failed: \(result.comment)")), context: context)
            } else {
                handler.senderChecked = true
                handler.perform(
                    .consult(callout, text: text, context: contextUpdates, newMessage: newMessage), context: context)
            }
            handler.process(context: context)
            context.flush()
            if context.channel.isWritable { handler.resumeReading(context: context) }
        }
    }

    /// Verifies the message's DKIM signatures and evaluates DMARC, then calls `then` on this
    /// loop. Signatures' keys and the DMARC record are looked up first without blocking; the
    /// verification itself (hashing) runs on the blocking-work threads.
    func authenticateMessage(
        _ message: [UInt8], context: ChannelHandlerContext,
        then: @escaping (SMTPServerHandler, MessageAuthentication) -> Void
    ) {
        guard let authentication else { return }
        let effects = services.effects
        let resolver = effects.resolver
        let loop = context.eventLoop
        let fromDomain = authentication.dmarc == nil ? nil : DMARCEvaluator.fromDomain(message: message)
        let keys =
            authentication.verifiesDKIM ? effects.prefetchDKIMKeys(message, on: loop) : loop.makeSucceededFuture([:])
        let record: EventLoopFuture<DMARCRecordAnswer?> =
            fromDomain.map { DMARCRecordAnswer.find(fromDomain: $0, resolver: resolver, on: loop).map { $0 } }
            ?? loop.makeSucceededFuture(nil)
        let verifies = authentication.verifiesDKIM
        let evaluatesDMARC = authentication.dmarc != nil
        let spf = spfReport
        let ip = machine.clientAddress.description
        let bound = NIOLoopBound((handler: self, then: then), eventLoop: loop)
        keys.and(record).flatMap { keys, record in
            effects.blockingWork.runIfActive(eventLoop: loop) { () -> MessageAuthentication in
                var outcome = MessageAuthentication()
                if verifies {
                    outcome.dkim =
                        (try? ScriptDKIM.verify(message, resolver: resolver, prefetched: keys).get())
                        ?? DKIMVerification(status: 7, statusText: "internal error", signatures: [])
                }
                guard evaluatesDMARC else { return outcome }
                guard let fromDomain, let record else {
                    // No single From: domain to evaluate (RFC 7489 §6.6.1).
                    outcome.dmarc = .noFromDomain
                    return outcome
                }
                let inputs = DMARCInputs(
                    fromDomain: fromDomain, clientIP: ip, spfDomain: spf?.domain ?? "",
                    spfResult: spf?.result.result ?? "none", spfFromHelo: spf?.fromHelo ?? false,
                    dkim: (outcome.dkim?.signatures ?? []).map { ($0.domain, $0.selector, $0.result) })
                outcome.dmarc = DMARCEvaluator.evaluate(inputs, record: record)
                return outcome
            }
        }.whenComplete { result in
            let (handler, then) = bound.value
            guard handler.context != nil else { return }
            let outcome =
                (try? result.get())
                ?? MessageAuthentication(
                    dkim: verifies ? DKIMVerification(status: 7, statusText: "internal error", signatures: []) : nil,
                    dmarc: nil)
            if let dkim = outcome.dkim {
                for verdict in dkim.signatures.isEmpty ? ["none"] : dkim.signatures.map(\.result) {
                    handler.services.statistics.signing.checked(.dkim, verdict)
                }
            }
            if let dmarc = outcome.dmarc { handler.services.statistics.signing.checked(.dmarc, dmarc.result) }
            handler.messageAuthentication = outcome
            then(handler, outcome)
        }
    }

    /// The message context keys a message's authentication sets (docs/sender-authentication.md).
    static func contextUpdates(_ outcome: MessageAuthentication) -> [PolicyContextUpdate] {
        var updates: [PolicyContextUpdate] = []
        if let dkim = outcome.dkim {
            updates.append(PolicyContextUpdate(message: true, key: "dkim_status", value: dkim.summary))
        }
        if let dmarc = outcome.dmarc {
            updates += [
                PolicyContextUpdate(message: true, key: "dmarc_status", value: dmarc.result),
                PolicyContextUpdate(message: true, key: "dmarc_disposition", value: dmarc.disposition)
            ]
            // Without a record there is no policy, without a single From: domain no domain.
            if !dmarc.policy.isEmpty {
                updates.append(PolicyContextUpdate(message: true, key: "dmarc_policy", value: dmarc.policy))
            }
            if !dmarc.fromDomain.isEmpty {
                updates.append(PolicyContextUpdate(message: true, key: "dmarc_domain", value: dmarc.fromDomain))
            }
        }
        return updates
    }

    /// The refusal DMARC enforcement asks for, if any: `p=reject` (after pct=) with `enforcement
    /// = "enforce"` (RFC 7489 §6.6.4 leaves the reply to the receiver; 5.7.1 as in RFC 7372's
    /// family of authentication failures).
    func dmarcRefusal(_ outcome: MessageAuthentication) -> (code: Int, text: String)? {
        guard authentication?.dmarc?.enforcement == .enforce, let dmarc = outcome.dmarc,
            dmarc.result == "fail", dmarc.disposition == "reject"
        else { return nil }
        return (550, "5.7.1 Message refused: DMARC policy of \(dmarc.fromDomain) asks to reject unauthenticated mail")
    }
}

extension SPFReport {
    /// An identity SPF checks: the address given to check_host() and its domain.
    struct Identity {
        var address: String
        var domain: String
        var fromHelo: Bool
    }
}
