import Foundation
import Logging
import Logs

/// `summary` and `summary reset`: connections and messages since start or the last reset.
enum SummaryCommand: ConsoleCommand {
    static let help = [
        ("summary", "connections and messages since start (or since `summary reset`)"),
        ("summary reset", "zero the summary counters")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "summary" && (second == nil || second == "reset")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        if words.count > 1 {
            console.statistics.reset()
            return (true, "statistics cleared.\n")
        }
        return (true, console.summary())
    }
}

extension ConsoleContext {
    func summary() -> String {
        let snapshot = statistics.snapshot
        let totals = queueManager.totals()
        func rate(_ count: Int) -> String {
            snapshot.sinceReset > 0 ? String(format: "%.1f/s", Double(count) / snapshot.sinceReset) : "0.0/s"
        }
        let rows: [(String, String)] = [
            ("Uptime", Self.duration(snapshot.uptime)),
            ("Statistics since", Self.duration(snapshot.sinceReset) + " ago"),
            ("Current Connections", "\(openSessions())"),
            ("Total Connections", "\(snapshot.sessions)"),
            ("Total Received", "\(snapshot.received) (\(rate(snapshot.received)))"),
            ("Total Recipients", "\(snapshot.recipients)"),
            ("Total Rejected", "\(snapshot.rejected)"),
            ("Total Discarded", "\(snapshot.discarded)"),
            ("Outbound Concurrency", "\(totals.connections)"),
            ("Inbound Concurrency", "\(openSessions())"),
            ("Active Queue Size", "\(totals.active)"),
            ("Delayed Queue Size", "\(totals.delayed)"),
            ("Total Queue Size", "\(totals.active + totals.delayed)"),
            ("Resident Messages", "\(totals.messages)"),
            ("Successfully Delivered Messages", "\(snapshot.delivered)"),
            ("Failed Messages", "\(snapshot.failed)"),
            ("Transient Failures", "\(snapshot.transientFailures)"),
            ("Delivery Rate", rate(snapshot.delivered + snapshot.failed))
        ]
        return "Summary Statistics:\n" + rows.map { "  \($0.0): \($0.1)" }.joined(separator: "\n") + "\n"
    }

    static func duration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval)
        return String(
            format: "%dd %02d:%02d:%02d", seconds / 86400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60)
    }
}
