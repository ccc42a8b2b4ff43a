import Foundation
import SMTPProtocol
import Scriptlet

/// What scripts decided about a message besides accepting or refusing it.
package struct MessageEdits {
    package var routingDomain: String?
    package var binding: String?
    package var bindingGroup: String?
    package var priority = 0
    /// msg:discard's reason: the client hears 250, the message is not spooled.
    package var discard: String?
    /// What scripts set for one recipient in the per-recipient callouts (pre/post each-rcpt,
    /// validate_data_spool_each_rcpt, validate_set_binding), by recipient index: as in Momentum,
    /// where each recipient has its own message there.
    package var recipients: [Int: RecipientEdits] = [:]
    /// The recipient whose per-recipient callout is running, or nil in a message-wide one.
    package var currentRecipient: Int?
}

/// Envelope changes scripts make (msg:mailfrom, msg:rcptto, msg:routing_domain, msg:binding,
/// msg:discard, ac:esmtp_capability_add/remove), applied to the session.
extension SMTPSessionStateMachine {
    /// Applies `changes`; returns what could not be applied, for the log.
    public mutating func apply(_ changes: PolicyChanges) -> [String] {
        var problems: [String] = []
        for keyword in changes.capabilitiesAdded {
            let clean = keyword.trimmingCharacters(in: .whitespaces)
            guard !clean.isEmpty, clean.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 || $0 == " " })
            else {
                problems.append("capability '\(keyword)' is not a valid EHLO keyword line")
                continue
            }
            capabilitiesAdded.append(clean)
            capabilitiesRemoved.remove(String(clean.split(separator: " ").first ?? "").uppercased())
        }
        for keyword in changes.capabilitiesRemoved {
            let name = String(keyword.split(separator: " ").first ?? "").uppercased()
            capabilitiesRemoved.insert(name)
            capabilitiesAdded.removeAll { String($0.split(separator: " ").first ?? "").uppercased() == name }
        }
        if let index = messageEdits.currentRecipient, case .message = pending {
            return problems + applyToRecipient(index, changes)
        }
        if let sender = changes.mailFrom {
            if !changeSender(to: sender) {
                problems.append("sender '\(sender)' set by a script is not a valid address; kept the old one")
            }
        }
        for (old, new) in changes.recipientRewrites where !rewriteRecipient(old, to: new) {
            problems.append("recipient '\(new)' set by a script is not a valid address; kept '\(old)'")
        }
        if let domain = changes.routingDomain { messageEdits.routingDomain = domain }
        if let binding = changes.binding { messageEdits.binding = binding }
        if let group = changes.bindingGroup { messageEdits.bindingGroup = group }
        if let priority = changes.priority { messageEdits.priority = priority == 0 ? 0 : 1 }
        if let reason = changes.discard { messageEdits.discard = reason }
        return problems
    }

    /// Changes made in a per-recipient callout: the envelope's sender, routing domain, binding
    /// and discard are that recipient's alone; a recipient rewrite is the recipient's own anyway.
    mutating func applyToRecipient(_ index: Int, _ changes: PolicyChanges) -> [String] {
        var problems: [String] = []
        var edits = messageEdits.recipients[index] ?? RecipientEdits()
        if let sender = changes.mailFrom {
            let utf8 = transaction?.parameters.smtpUTF8 ?? true
            if sender.isEmpty {
                edits.sender = ""
            } else if let parsed = try? MailPathParser(limits: limits, allowUTF8: utf8).parseReversePath(
                Substring("<\(sender)>"))
            {
                edits.sender = parsed.description
            } else {
                problems.append("sender '\(sender)' set by a script is not a valid address; kept the old one")
            }
        }
        for (old, new) in changes.recipientRewrites where !rewriteRecipient(old, to: new) {
            problems.append("recipient '\(new)' set by a script is not a valid address; kept '\(old)'")
        }
        if let domain = changes.routingDomain { edits.routingDomain = domain }
        if changes.binding != nil || changes.bindingGroup != nil {
            edits.binding = changes.binding
            edits.bindingGroup = changes.bindingGroup
        }
        if let reason = changes.discard { edits.discard = reason }
        if let priority = changes.priority { messageEdits.priority = priority == 0 ? 0 : 1 }
        messageEdits.recipients[index] = edits
        return problems
    }

    /// The message a script discarded: nil when it was not.
    public var discardReason: String? { messageEdits.discard }

    package mutating func changeSender(to address: String) -> Bool {
        let utf8 = transaction?.parameters.smtpUTF8 ?? true
        let sender: Mailbox?
        if address.isEmpty {
            sender = nil // the null sender, <>
        } else {
            guard
                let parsed = try? MailPathParser(limits: limits, allowUTF8: utf8).parseReversePath(
                    Substring("<\(address)>"))
            else { return false }
            sender = parsed
        }
        switch pending {
        case .mail(_, let parameters): pending = .mail(sender: sender, parameters: parameters)
        case .message(var pendingTransaction, let message, let steps):
            pendingTransaction.sender = sender
            pending = .message(pendingTransaction, message, steps: steps)
        default: break
        }
        transaction?.sender = sender
        return true
    }

    package mutating func rewriteRecipient(_ old: String, to new: String) -> Bool {
        let utf8 = transaction?.parameters.smtpUTF8 ?? true
        guard
            let mailbox = try? MailPathParser(limits: limits, allowUTF8: utf8).parseForwardPath(Substring("<\(new)>")),
            !mailbox.domain.isEmpty
        else { return false }
        func rewrite(_ list: inout [(Mailbox, RecipientParameters)]) {
            if let index = list.firstIndex(where: { $0.0.description.lowercased() == old.lowercased() }) {
                list[index].0 = mailbox
            }
        }
        switch pending {
        case .recipient(let current, let parameters) where current.description.lowercased() == old.lowercased():
            pending = .recipient(mailbox, parameters)
        case .recipientList(let current, let parameters, let reply)
        where current.description.lowercased() == old.lowercased():
            pending = .recipientList(mailbox, parameters, reply: reply)
        case .message(var pendingTransaction, let message, let steps):
            rewrite(&pendingTransaction.recipients)
            pending = .message(pendingTransaction, message, steps: steps)
        default: break
        }
        if var current = transaction {
            rewrite(&current.recipients)
            transaction = current
        }
        return true
    }
}
