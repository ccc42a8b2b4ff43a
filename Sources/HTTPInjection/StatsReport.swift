import Delivery
import Foundation
import SMTPServer
import TransmissionFormat

/// The read-only JSON of Momentum's `/stats/summary` and `/stats/queues/mailq` (docs/http-api.md):
/// what the console's `summary` and `mailq` show.
enum StatsReport {
    static func summary(services: ServerServices, queueManager: QueueManager) -> JSONValue {
        let snapshot = services.statistics.snapshot
        let totals = queueManager.totals()
        func number(_ value: Int) -> JSONValue { .number(Double(value)) }
        return .object([
            (
                "results",
                .object([
                    ("uptime_seconds", number(Int(snapshot.uptime))),
                    ("statistics_since_seconds", number(Int(snapshot.sinceReset))),
                    ("current_connections", number(services.sessions.count)),
                    ("total_connections", number(snapshot.sessions)),
                    ("total_received", number(snapshot.received)),
                    ("total_recipients", number(snapshot.recipients)),
                    ("total_rejected", number(snapshot.rejected)),
                    ("total_discarded", number(snapshot.discarded)),
                    ("outbound_concurrency", number(totals.connections)),
                    ("active_queue_size", number(totals.active)),
                    ("delayed_queue_size", number(totals.delayed)),
                    ("total_queue_size", number(totals.active + totals.delayed)),
                    ("resident_messages", number(totals.messages)),
                    ("delivered", number(snapshot.delivered)),
                    ("failed", number(snapshot.failed)),
                    ("transient_failures", number(snapshot.transientFailures))
                ])
            )
        ])
    }

    /// Queues with work, largest first; `?domain=` and `?binding=` filter, `?limit=` (default 100,
    /// at most 10,000) bounds the list.
    static func mailq(queueManager: QueueManager, query uri: String) -> JSONValue {
        let components = URLComponents(string: uri)
        let items = components?.queryItems ?? []
        let domain = items.first { $0.name == "domain" }?.value?.lowercased()
        let binding = items.first { $0.name == "binding" }?.value
        let limit = min(max(items.first { $0.name == "limit" }?.value.flatMap(Int.init) ?? 100, 1), 10_000)
        let rows = queueManager.summary()
            .filter { (domain == nil || $0.key.domain == domain) && (binding == nil || $0.key.binding == binding) }
            .sorted { ($0.active + $0.delayed, $1.key.domain) > ($1.active + $1.delayed, $0.key.domain) }
            .prefix(limit)
        return .object([
            (
                "results",
                .array(
                    rows.map { row in
                        .object([
                            ("binding_group", .string(row.key.group)), ("binding", .string(row.key.binding)),
                            ("domain", .string(row.key.domain)), ("active", .number(Double(row.active))),
                            ("delayed", .number(Double(row.delayed))),
                            ("connections", .number(Double(row.connections)))
                        ])
                    })
            )
        ])
    }
}
