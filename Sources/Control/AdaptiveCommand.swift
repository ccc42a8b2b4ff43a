import Delivery
import Foundation

/// Momentum's adaptive commands, for Impulse's built-in response-driven back-off: `adaptive
/// list` (every queue a rule acts on), `adaptive suspensions` (the suspended and blackholed
/// ones), `adaptive rules` (the rule set) and `adaptive reset <domain> [binding]` (the operator
/// lifts what the rules did).
enum AdaptiveCommand: ConsoleCommand {
    static let help = [
        ("adaptive list", "queues response-driven back-off acts on: suspension, blackhole, rate, connections"),
        ("adaptive suspensions", "queues suspended or blackholed by back-off rules, until when and why"),
        ("adaptive rules", "the back-off rules in force (built-in and registered by scripts)"),
        ("adaptive reset domain [binding]", "lift every back-off of a domain's queues now")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "adaptive" && ["list", "suspensions", "rules", "reset"].contains(second ?? "")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let manager = console.queueManager
        switch words[1].lowercased() {
        case "reset":
            guard words.count >= 3 else { return (false, "usage: adaptive reset <domain> [binding]\n") }
            let domain = words[2].lowercased()
            let count = manager.resetAdaptive(domain: domain, binding: words.count > 3 ? words[3] : nil)
            console.logger.notice("console: adaptive reset \(domain)")
            return (true, "\(domain): back-off lifted on \(count) queue\(count == 1 ? "" : "s").\n")
        case "rules":
            let (rules, aliases) = manager.adaptiveRules.all()
            var text = ""
            for rule in rules {
                let trigger = rule.count == 1 && rule.seconds == 3600 ? "1" : "\(rule.count)/\(rule.seconds)"
                text +=
                    "\(rule.domain) code=\(rule.pattern.text) trigger=\(trigger) action="
                    + rule.actions.map(\.description).joined(separator: ",") + " (\(rule.origin))"
                    + (rule.message.isEmpty ? "" : ": \(rule.message)") + "\n"
            }
            for (alias, target) in aliases.sorted(by: { $0.key < $1.key }) { text += "\(alias) -> \(target)\n" }
            return (true, text.isEmpty ? "No back-off rules.\n" : text)
        default:
            let onlyHeld = words[1].lowercased() == "suspensions"
            var text = ""
            for report in manager.adaptiveReports() {
                var parts: [String] = []
                if let until = report.suspendedUntil { parts.append("suspended until \(until / 1_000_000)") }
                if let until = report.blackholedUntil { parts.append("blackholed until \(until / 1_000_000)") }
                if onlyHeld && parts.isEmpty { continue }
                if !onlyHeld {
                    if let rate = report.rate { parts.append("outbound_throttle_messages \(rate)") }
                    if report.connectionReduction > 0 {
                        parts.append("max_outbound_connections -\(report.connectionReduction)")
                    }
                    if let until = report.adjustedUntil { parts.append("until \(until / 1_000_000)") }
                }
                let reason = report.reason.isEmpty ? "" : ": \(report.reason)"
                text +=
                    "\(report.key.group)/\(report.key.binding) \(report.key.domain) "
                    + parts.joined(separator: ", ") + (parts.count > 0 && !reason.isEmpty ? reason : "") + "\n"
            }
            return (true, text.isEmpty ? (onlyHeld ? "No suspensions.\n" : "No back-off in force.\n") : text)
        }
    }
}
