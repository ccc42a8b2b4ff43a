import Foundation
import ImpulseMetrics
import Logs
import PolicyRuntime
import SMTPServer
import Spool

/// Queue inspection and actions from the console, all from the queue manager (active = ready to
/// go or being delivered, delayed = waiting for a retry); `message details` reads the content
/// from the message's place in the spool.
extension ImpulseServer {
    /// `mailq [-d domain …] [-b binding …] [-l limit]`.
    func mailq(_ arguments: [String]) -> (ok: Bool, text: String) {
        var domains: Set<String> = [], bindings: Set<String> = [], limit = 20
        var index = 0
        while index < arguments.count {
            let option = arguments[index]
            guard index + 1 < arguments.count else { return (false, "mailq: \(option) needs a value\n") }
            let value = arguments[index + 1]
            switch option {
            case "-d", "--domain": domains.insert(value.lowercased())
            case "-b", "--binding": bindings.insert(value)
            case "-l", "--limit":
                guard let number = Int(value), number > 0 else {
                    return (false, "mailq: the limit must be a positive number\n")
                }
                limit = number
            default: return (false, "mailq: unknown option \(option) (-d domain, -b binding, -l limit)\n")
            }
            index += 2
        }
        let rows = queueManager.summary()
            .filter {
                (domains.isEmpty || domains.contains($0.key.domain))
                    && (bindings.isEmpty || bindings.contains($0.key.binding))
            }
            .sorted { ($0.active + $0.delayed, $1.key.domain) > ($1.active + $1.delayed, $0.key.domain) }
            .prefix(limit)
        var text =
            "Group/Binding".padding(toLength: 44, withPad: " ", startingAt: 0) + "Domain".leftPadded(18)
            + "AQ".leftPadded(8) + "DQ".leftPadded(8) + "\n"
        text += String(repeating: "-", count: 78) + "\n"
        for row in rows {
            text +=
                "\(row.key.group)/\(row.key.binding)".padding(toLength: 44, withPad: " ", startingAt: 0)
                + row.key.domain.leftPadded(18)
                + "\(row.active)".leftPadded(8) + "\(row.delayed)".leftPadded(8) + "\n"
        }
        return (true, text)
    }

    /// `showqueue [binding <b> | binding all] <domain> [limit,offset]`: Momentum's
    /// `[active|delayed/<binding>] <id> Created: <epoch>` lines (delayed ones with their next
    /// attempt) and `From:`/`To:` lines.
    func showqueue(_ arguments: [String]) -> (ok: Bool, text: String) {
        var rest = arguments[...]
        var binding: String? = "default"
        if rest.first == "binding", rest.count >= 2 {
            binding = rest.dropFirst().first == "all" ? nil : rest.dropFirst().first
            rest = rest.dropFirst(2)
        }
        guard let domain = rest.first?.lowercased() else {
            return (false, "usage: showqueue [binding <b> | binding all] <domain> [limit,offset]\n")
        }
        var limit = 100, offset = 0
        if let window = rest.dropFirst().first {
            let parts = window.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] >= 0 else {
                return (false, "showqueue: expected limit,offset such as 100,0\n")
            }
            (limit, offset) = (parts[0], parts[1])
        }
        var text = ""
        for item in queueManager.items(domain: domain, binding: binding).dropFirst(offset).prefix(limit) {
            let state = item.nextAttemptMicros == nil ? "active" : "delayed"
            text += "[\(state)/\(item.key.binding)] \(item.id) Created: \(item.receivedAtMicros / 1_000_000)"
            if let next = item.nextAttemptMicros { text += " Next: \(next / 1_000_000)" }
            text += "\n  From: <\(item.sender)> To: " + item.recipients.map { "<\($0)>" }.joined(separator: " ") + "\n"
        }
        return (true, text.isEmpty ? "No messages queued for \(domain).\n" : text)
    }

    /// The queue commands that act: `message retry/fail/delete`, `fail domain`, `flush domain`,
    /// `suspend domain`, `resume domain`, and the `domain <name>` view.
    func queueAction(_ words: [String]) -> (ok: Bool, text: String) {
        let verb = words[0].lowercased()
        var rest = Array(words.dropFirst(verb == "domain" ? 1 : 2))
        switch (verb, words.count > 1 ? words[1].lowercased() : "") {
        case ("message", "retry"):
            guard rest.count == 1 else { return (false, "usage: message retry <id>\n") }
            return queueManager.retry(messageID: rest[0])
                ? (true, "Message requeued for delivery\n")
                : (false, "Message \(rest[0]) has no delayed delivery.\n")
        case ("message", "fail"), ("message", "delete"):
            let quiet = words[1].lowercased() == "delete" || rest.first?.lowercased() == "quiet"
            if rest.first?.lowercased() == "quiet" { rest.removeFirst() }
            guard rest.count == 1 else { return (false, "usage: message fail [quiet] <id> | message delete <id>\n") }
            let text =
                words[1].lowercased() == "delete"
                ? "554 5.0.0 message deleted by the operator" : "554 5.0.0 manually failed"
            return queueManager.fail(messageID: rest[0], text: text, quiet: quiet)
                ? (true, "Message \(rest[0]) failed\(quiet ? " (no bounce)" : "").\n")
                : (false, "Message \(rest[0]) is not queued.\n")
        case ("fail", "domain"):
            var quiet = false, dryRun = false
            while let flag = rest.first?.lowercased(), flag == "quiet" || flag == "--dry-run" {
                if flag == "quiet" { quiet = true } else { dryRun = true }
                rest.removeFirst()
            }
            guard let domain = rest.first?.lowercased() else {
                return (false, "usage: fail domain [quiet] [--dry-run] <domain> [text…]\n")
            }
            let note = rest.dropFirst().joined(separator: " ")
            let text =
                note.isEmpty
                ? "554 5.0.0 Message manually purged." : (note.first?.isNumber == true ? note : "554 5.0.0 " + note)
            if dryRun {
                let items = queueManager.items(domain: domain, binding: nil)
                let ids = Set(items.map(\.id))
                var out = ""
                for item in items.prefix(25) {
                    out +=
                        """
                          \(item.id)  domain=\(domain) from=\(item.sender) \
                        to=\(item.recipients.joined(separator: ","))\n
                        """
                }
                return (true, out + "[dry-run] \(domain): \(ids.count) messages would be failed.\n")
            }
            let count = queueManager.fail(domain: domain, text: text, quiet: quiet)
            return (true, "\(domain) purged. \(count) messages failed.\n")
        case ("flush", "domain"):
            guard let domain = rest.first?.lowercased() else { return (false, "usage: flush domain <domain|all>\n") }
            let count = queueManager.flush(domain: domain == "all" ? nil : domain)
            return (true, "\(domain) flushed.  \(count) messages requeued.\n")
        case ("suspend", "domain"), ("resume", "domain"):
            guard let domain = rest.first?.lowercased() else { return (false, "usage: \(verb) domain <domain>\n") }
            queueManager.setSuspended(verb == "suspend", domain: domain)
            logger.notice("console: \(verb) domain \(domain)")
            return (true, "\(domain) \(verb == "suspend" ? "suspended" : "resumed").\n")
        default:
            guard let domain = rest.first?.lowercased() else { return (false, "usage: domain <name>\n") }
            let reports = queueManager.report(domain: domain)
            guard !reports.isEmpty else { return (true, "Domain '\(domain)' has no queue.\n") }
            var text = ""
            for report in reports {
                text +=
                    """
                    Domain '\(domain)' binding \
                    \(report.key.group)/\(report.key.binding)\(report.suspended ? " (suspended)" : "")\n
                    """
                text += "Queue: Active: \(report.active) Delayed: \(report.delayed)\n"
                text += "Oldest: \(report.oldestMicros.map { String($0 / 1_000_000) } ?? "-")\n"
                let nextAttempt =
                    report.nextAttemptMicros.map { String($0 / 1_000_000) } ?? (report.active > 0 ? "now" : "-")
                text += "Next Attempt: \(nextAttempt)\n"
                text += "Deliveries: \(report.delivered)\nFailures: \(report.failed)\n"
                if let error = report.lastError {
                    text +=
                        """
                        Last Error: \
                        \(error)\(report.lastErrorAt.map { " (at \(Int($0.timeIntervalSince1970)))" } ?? "")\n
                        """
                }
                text += "Active Connections: \(report.connections)\n"
            }
            return (true, text)
        }
    }

    /// `message details [full | body] <id>`.
    func messageDetails(_ arguments: [String]) -> (ok: Bool, text: String) {
        let mode = arguments.count > 1 ? arguments[0].lowercased() : "details"
        guard let id = arguments.last, ["details", "full", "body"].contains(mode) else {
            return (false, "usage: message details [full | body] <id>\n")
        }
        // Every message with a recipient to deliver is in the queue manager, which knows where it is.
        guard let (entry, states) = queueManager.queuedMessage(id) else {
            return (false, "Message \(id) not found.\n")
        }
        let envelope = entry.envelope
        var text = ""
        if mode != "body" {
            let pending = states.filter { !$0.settled }
            let earliest: Int64 = pending.map(\.nextAttemptMicros).min() ?? 0
            let next = earliest == 0 ? "now" : String(earliest / 1_000_000)
            text +=
                "Message: \(envelope.id)\nCreated: \(envelope.receivedAtMicros / 1_000_000)\nNext Attempt: \(next)\n"
            let retries: Int = pending.map(\.attempts).max() ?? 0
            text +=
                """
                Retries: \(retries)\nReceived Via: \(envelope.peerAddress):\(envelope.peerPort) \
                \(envelope.receivedProtocol) on \(envelope.listener)\n
                """
            text += "Sender: <\(envelope.mailFrom)>\n"
            for (recipient, state) in zip(envelope.recipients, states) {
                let status = state.settled ? " (done)" : state.attempts > 0 ? " (\(state.attempts) attempt(s))" : ""
                text += "Recipient: <\(recipient.address)>\(status)\n"
            }
            if let domain = envelope.routingDomain { text += "Routing Domain: \(domain)\n" }
            text += "Binding: \(envelope.binding ?? "default")\nSize: \(entry.dataLength)\n"
        }
        if mode != "details" {
            guard let handle = FileHandle(forReadingAtPath: entry.path) else {
                return (false, "cannot read \(entry.path)\n")
            }
            defer { try? handle.close() }
            try? handle.seek(toOffset: UInt64(entry.dataOffset))
            let data = (try? handle.read(upToCount: min(entry.dataLength, 1 << 20))) ?? Data()
            if mode == "full" { text += "\n" }
            text += String(decoding: data, as: UTF8.self)
            if entry.dataLength > 1 << 20 { text += "\n(… \(entry.dataLength - (1 << 20)) more octets not shown)\n" }
        }
        return (true, text)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
