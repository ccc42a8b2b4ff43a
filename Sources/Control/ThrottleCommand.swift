import Delivery
import Foundation

/// `throttle list`: every outbound throttle in use (per binding and domain, and per `host`
/// scope), its rate, how many events it let through, how often it held work, and when its next
/// permit is due.
enum ThrottleCommand: ConsoleCommand {
    static let help = [
        ("throttle list", "outbound throttles in use: rate, sent, times held, next permit")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "throttle" && second == "list" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let reports = console.queueManager.throttles()
        guard !reports.isEmpty else { return (true, "No outbound throttle is in use.\n") }
        return (true, reports.map(Self.line).joined())
    }

    /// `domain default/default example.com messages 10/s: sent 120, held 14, next permit now`.
    static func line(_ report: QueueManager.ThrottleReport) -> String {
        let next =
            report.waitMicros == 0
            ? "now" : "in " + String(format: "%.3fs", Double(report.waitMicros) / 1_000_000)
        let per = report.rate.seconds == 1 ? "s" : "\(report.rate.seconds)s"
        return
            "\(report.owner) \(report.kind) \(report.rate.count)/\(per): sent \(report.taken), held \(report.holds), "
            + "next permit \(next)\n"
    }
}
