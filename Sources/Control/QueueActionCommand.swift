import Foundation
import Logging
import Logs

/// The queue actions: a domain's state, and retrying, failing, deleting, flushing, suspending and
/// resuming messages and domains.
enum QueueActionCommand: ConsoleCommand {
    static let help = [
        ("domain name", "a domain's queues: counts, oldest message, next attempt, last error, connections"),
        ("message retry id", "deliver a delayed message now"),
        ("message fail [quiet] id", "fail a message's remaining recipients (554 manually failed); bounce unless quiet"),
        ("message delete id", "fail a message's remaining recipients without a bounce"),
        ("fail domain [quiet] [--dry-run] domain [text]", "fail every queued message of a domain"),
        ("flush domain domain|all", "retry a domain's delayed mail now"),
        ("suspend domain domain", "hold a domain's mail (until resume or restart)"),
        ("resume domain domain", "deliver a suspended domain's mail again")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        switch (first, second) {
        case ("message", "retry"), ("message", "fail"), ("message", "delete"), ("fail", "domain"), ("flush", "domain"),
            ("suspend", "domain"), ("resume", "domain"), ("domain", _):
            return true
        default:
            return false
        }
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.queueAction(words)
    }
}

extension ConsoleContext {
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
                if let host = queueManager.hostScope(of: report.key) {
                    text +=
                        "Host Scope: \(host.scope) (connections \(host.connections)/\(host.cap.map(String.init) ?? "-"))\n"
                }
            }
            for throttle in queueManager.throttles(domain: domain) {
                text += "Throttle: " + ThrottleCommand.line(throttle)
            }
            return (true, text)
        }
    }
}
