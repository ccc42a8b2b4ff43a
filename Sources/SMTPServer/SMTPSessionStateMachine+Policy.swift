import NIOCore
import SMTPProtocol
import Scriptlet

/// How the session consults the policy (docs/lua/README.md): the outcome of each callout.
extension SMTPSessionStateMachine {
    /// The policy callout asked for with `.consult` has run.
    public mutating func policyDecided(_ outcome: CalloutOutcome) -> Action {
        guard phase == .consulting, let decision = pending else { return .reply(.badSequence) }
        phase = .command
        pending = nil
        let isConnect: Bool
        if case .connect = decision { isConnect = true } else { isConnect = false }
        var successText: SMTPReply?
        switch outcome {
        case .proceed:
            break
        case .failed:
            if isConnect { return closeWith(.policyFailureAtConnect(bannerName)) }
            if case .message = decision { transaction = nil }
            return failure(.localError)
        case .disconnect(let code, let text):
            return closeWith(Self.policyReply(code: code, text: text, fallback: "Closing connection by policy"))
        case .reply(let code, let text):
            let reply = Self.policyReply(code: code, text: text, fallback: code >= 400 ? "Rejected by policy" : "Ok")
            if code >= 400 {
                if isConnect { return closeWith(reply) }
                if case .message = decision { transaction = nil }
                return failure(reply)
            }
            successText = reply
        }
        switch decision {
        case .connect(let steps):
            if !steps.isEmpty { return continueConnect(steps: steps) }
            if let successText, successText.code == 220 { return .reply(SMTPReply(220, nil, successText.lines)) }
            return .reply(greeting())
        case .hello(let name, let extended):
            return hello(name: name, extended: extended, customText: successText?.lines.first)
        case .mail(let sender, let parameters):
            return acceptMail(sender, parameters, reply: successText)
        case .recipient(let recipient, let parameters):
            return consultRecipientList(recipient, parameters, reply: successText)
        case .recipientList(let recipient, let parameters, let reply):
            return acceptRecipient(recipient, parameters, reply: successText ?? reply)
        case .message(let transaction, let message, let steps):
            return continueMessage(transaction, message, steps: steps)
        }
    }

    /// Runs the next message-phase callout, or spools when none is left.
    package mutating func continueMessage(
        _ transaction: Transaction, _ message: ByteBuffer, steps: [(Callout, recipient: Int?)]
    ) -> Action {
        if transaction.recipients.isEmpty {
            self.transaction = nil
            return failure(.noRecipientsLeftAfterPolicy)
        }
        guard let (callout, recipientIndex) = steps.first else {
            messageEdits.currentRecipient = nil
            if let reason = messageEdits.discard ?? everyRecipientDiscarded(transaction) {
                // msg:discard: the client hears what it would for a spooled message.
                self.transaction = nil
                receptions += 1
                let id = transaction.messageID ?? ""
                return .discarded(.queued(id), id: id, reason: reason)
            }
            return spool(transaction, message)
        }
        phase = .consulting
        pending = .message(transaction, message, steps: Array(steps.dropFirst()))
        var context: [PolicyContextUpdate] = []
        messageEdits.currentRecipient = nil
        var recipientText: String?
        if let recipientIndex, transaction.recipients.indices.contains(recipientIndex) {
            // A per-recipient callout: the script sees this recipient's message (its recipient,
            // and its own sender); the index goes as the text.
            messageEdits.currentRecipient = recipientIndex
            recipientText = String(recipientIndex)
            let recipient = transaction.recipients[recipientIndex].0
            context = Self.recipientContext(recipient, line: "RCPT TO:<\(recipient)>")
        }
        // Once some recipient has a sender of its own, every callout is told its sender.
        if !messageEdits.recipients.isEmpty {
            let sender =
                messageEdits.currentRecipient.flatMap { messageEdits.recipients[$0]?.sender }
                ?? transaction.sender?.description ?? ""
            let at = sender.lastIndex(of: "@")
            context += [
                PolicyContextUpdate(message: true, key: "mailfrom_address", value: sender),
                PolicyContextUpdate(
                    message: true, key: "mailfrom_localpart", value: at.map { String(sender[..<$0]) } ?? sender),
                PolicyContextUpdate(
                    message: true, key: "mailfrom_domain",
                    value: at.map { String(sender[sender.index(after: $0)...]) } ?? "")
            ]
        }
        return .consult(callout, text: recipientText, context: context, newMessage: false)
    }

    /// The reason of the first per-recipient discard when scripts discarded every recipient.
    func everyRecipientDiscarded(_ transaction: Transaction) -> String? {
        guard !messageEdits.recipients.isEmpty else { return nil }
        var first: String?
        for index in transaction.recipients.indices {
            guard let reason = messageEdits.recipients[index]?.discard else { return nil }
            first = first ?? reason
        }
        return first
    }

    /// The message-phase callouts and hooks to run for a complete message, in Momentum's order
    /// (docs/lua/README.md, callouts): data, data_spool, then per recipient pre-each-rcpt / each_rcpt / post-each-rcpt,
    /// then final validation (core_final_validation2, then core_final_validation), post final
    /// validation and, per recipient, set_binding. All run before the spool write, so a
    /// rejection still reaches the client and nothing is acknowledged before it is durable.
    package func messageSteps(recipients: Int) -> [(Callout, recipient: Int?)] {
        var steps: [(Callout, recipient: Int?)] = []
        if policyCallouts.contains(.rcptToListFinal) { steps.append((.rcptToListFinal, nil)) }
        if policyCallouts.contains(.data) { steps.append((.data, nil)) }
        if policyCallouts.contains(.dataSpool) { steps.append((.dataSpool, nil)) }
        for recipient in 0..<recipients {
            for callout in [Callout.preMessageEachRcpt, .dataSpoolEachRcpt, .postMessageEachRcpt]
            where policyCallouts.contains(callout) {
                steps.append((callout, recipient))
            }
        }
        for callout in [Callout.finalValidation2, .finalValidation, .postFinalValidation]
        where policyCallouts.contains(callout) {
            steps.append((callout, nil))
        }
        // validate_set_binding: once per recipient, as Momentum runs it for each recipient's message.
        if policyCallouts.contains(.setBinding) {
            for recipient in 0..<recipients { steps.append((.setBinding, recipient)) }
        }
        return steps
    }

    /// A policy's code and text as a reply: "5.7.1 text" carries its own enhanced code;
    /// otherwise the code's class supplies one (ENHANCEDSTATUSCODES is on every reply).
    package static func policyReply(code: Int, text: String?, fallback: String) -> SMTPReply {
        let code = (200...599).contains(code) ? code : 550
        var body = text ?? fallback
        var enhanced = "\(code / 100).0.0"
        let parts = body.split(separator: " ", maxSplits: 1)
        if let first = parts.first, first.split(separator: ".").count == 3,
            first.split(separator: ".").allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }),
            first.first == Character("\(code / 100)")
        {
            enhanced = String(first)
            body = parts.count > 1 ? String(parts[1]) : ""
        }
        body = String(body.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? " " : Character($0) })
        return SMTPReply(code, enhanced, body)
    }

}
