import Delivery
import Foundation
import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// Prometheus metrics through swift-metrics (docs/metrics.md): a registry per server, so several
/// servers in one process (tests) do not share counters; scraped over the HTTP listener.
package final class ServerMetrics: Sendable {
    /// Label sets (metric, domain, binding) made at most: clients choose domains, so past this
    /// later ones count as `(other)`. The metrics layer's one limit.
    package static let maxLabelSets = 5000
    package let registry = PrometheusCollectorRegistry()
    package let factory: PrometheusMetricsFactory
    package let connections: Metrics.Counter
    package let rejected: Metrics.Counter
    package let discarded: Metrics.Counter
    /// Per-label metrics made on first use; label values a peer chooses (domains) are bounded.
    private let byLabels = NIOLockedValueBox<[String: Metrics.Counter]>([:])
    private let byCallout = NIOLockedValueBox<[String: Metrics.Timer]>([:])
    /// An HTTP_Listener serves these metrics. Without one, the per-label and per-command
    /// counters are not kept: that work (string keys, a lock) would be on every message and
    /// command for nobody.
    package let served: Bool

    package init(served: Bool = true) {
        self.served = served
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
            .milliseconds(500), .seconds(2), .seconds(10)
        ]
        self.factory = factory
        connections = Metrics.Counter(label: "impulse_connections_total", factory: factory)
        rejected = Metrics.Counter(label: "impulse_rejections_total", factory: factory)
        discarded = Metrics.Counter(label: "impulse_messages_discarded_total", factory: factory)
        var commands: [UInt32: Metrics.Counter] = [:]
        for verb in Self.verbs {
            commands[Self.verbKey(verb)] = Metrics.Counter(
                label: "impulse_smtp_commands_total", dimensions: [("command", verb)], factory: factory)
        }
        self.commands = commands
        otherCommand = Metrics.Counter(
            label: "impulse_smtp_commands_total", dimensions: [("command", "other")], factory: factory)
    }

    /// A message accepted and spooled, counted once per recipient domain, with the binding it
    /// leaves from.
    package func received(recipientDomains: [String], binding: String) {
        guard served else { return }
        for domain in Set(recipientDomains.map { $0.lowercased() }) {
            labelled("impulse_messages_received_total", domain: domain, binding: binding).increment()
        }
    }

    /// A refused RCPT, by its domain (the binding is chosen later, for accepted mail only).
    package func recipientRejected(domain: String) {
        guard served else { return }
        labelled("impulse_recipients_rejected_total", domain: domain.lowercased(), binding: nil).increment()
    }

    /// The counter `name` for a domain (and binding): label sets are made on first use and
    /// bounded — clients choose domains — so past `ServerMetrics.maxLabelSets` new ones count as `(other)`.
    private func labelled(_ name: String, domain: String, binding: String?) -> Metrics.Counter {
        byLabels.withLockedValue { counters -> Metrics.Counter in
            let key = name + "\u{0}" + domain + "\u{0}" + (binding ?? "")
            if let existing = counters[key] { return existing }
            let overflow = counters.count >= ServerMetrics.maxLabelSets
            let labels = overflow ? ("(other)", binding.map { _ in "(other)" }) : (domain, binding)
            let fallbackKey = name + "\u{0}(other)\u{0}" + (binding == nil ? "" : "(other)")
            if overflow, let existing = counters[fallbackKey] { return existing }
            var dimensions = [("domain", labels.0)]
            if let binding = labels.1 { dimensions.append(("binding", binding)) }
            let made = Metrics.Counter(label: name, dimensions: dimensions, factory: factory)
            counters[overflow ? fallbackKey : key] = made
            return made
        }
    }

    /// SMTP commands by verb: a fixed set of labels (anything else counts as `other`).
    package static let verbs = [
        "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS",
        "AUTH"
    ]
    private let commands: [UInt32: Metrics.Counter]
    private let otherCommand: Metrics.Counter

    /// Counts one command line by its first four octets (case-insensitive).
    package func command(_ prefix: some Collection<UInt8>) {
        guard served else { return }
        var key: UInt32 = 0
        for byte in prefix { key = key << 8 | UInt32(byte & 0xDF) }
        (commands[key] ?? otherCommand).increment()
    }

    package static func verbKey(_ verb: String) -> UInt32 {
        verb.utf8.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Delivery outcomes by kind, routing domain and binding.
    package func delivery(_ kind: DeliveryOutcomeKind, domain: String, binding: String) {
        guard served else { return }
        let name: String
        switch kind {
        case .delivered: name = "impulse_messages_delivered_total"
        case .transientFailure: name = "impulse_messages_deferred_total"
        case .permanentFailure: name = "impulse_messages_bounced_total"
        }
        labelled(name, domain: domain, binding: binding).increment()
    }

    private let byModule = NIOLockedValueBox<[String: Metrics.Timer]>([:])

    /// One module's method for one callout (scripts name modules: a bounded set).
    package func module(_ module: String, callout: String, seconds: Double) {
        let timer = byModule.withLockedValue { timers -> Metrics.Timer in
            let key = module + "\u{0}" + callout
            if let existing = timers[key] { return existing }
            let made = Metrics.Timer(
                label: "impulse_lua_module_duration_seconds", dimensions: [("module", module), ("callout", callout)],
                factory: factory)
            timers[key] = made
            return made
        }
        timer.recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// One Lua callout (every module's method for it), from start to end, suspensions included.
    package func callout(_ name: String, nanoseconds: Int64) {
        let timer = byCallout.withLockedValue { timers -> Metrics.Timer in
            if let existing = timers[name] { return existing }
            let made = Metrics.Timer(
                label: "impulse_lua_callout_duration_seconds", dimensions: [("callout", name)], factory: factory)
            timers[name] = made
            return made
        }
        timer.recordNanoseconds(nanoseconds)
    }

    /// Values read at scrape time (sessions, spool, thread pools), then the exposition text.
    package func scrape(
        sessions: Int, spoolBytes: Int, pools: [(name: String, queued: Int, running: Int)],
        queue: (active: Int, delayed: Int, connections: Int, messages: Int),
        throttles: [QueueManager.ThrottleReport] = [], adaptive: (actions: Int, held: Int, adjusted: Int) = (0, 0, 0)
    ) -> [UInt8] {
        Metrics.Gauge(label: "impulse_adaptive_actions", factory: factory).record(adaptive.actions)
        Metrics.Gauge(label: "impulse_adaptive_queues_held", factory: factory).record(adaptive.held)
        Metrics.Gauge(label: "impulse_adaptive_queues_adjusted", factory: factory).record(adaptive.adjusted)
        // Per scope kind (domain, host) and throttle kind: how many are in use and how many hold
        // work now; holds since start as a counter (the queue manager keeps the totals).
        var inUse: [String: (count: Int, holding: Int, holds: Int)] = [:]
        for kind in ["messages", "connections"] {
            for scope in ["domain", "host"] { inUse[scope + " " + kind] = (0, 0, 0) }
        }
        for report in throttles {
            let scope = report.owner.hasPrefix("host ") ? "host" : "domain"
            inUse[scope + " " + report.kind, default: (0, 0, 0)].count += 1
            if report.waitMicros > 0 { inUse[scope + " " + report.kind, default: (0, 0, 0)].holding += 1 }
            inUse[scope + " " + report.kind, default: (0, 0, 0)].holds += report.holds
        }
        for (name, values) in inUse {
            let parts = name.split(separator: " ").map(String.init)
            let dimensions = [("scope", parts[0]), ("kind", parts[1])]
            Metrics.Gauge(label: "impulse_outbound_throttles", dimensions: dimensions, factory: factory)
                .record(values.count)
            Metrics.Gauge(label: "impulse_outbound_throttles_holding", dimensions: dimensions, factory: factory)
                .record(values.holding)
            Metrics.Gauge(label: "impulse_outbound_throttle_holds", dimensions: dimensions, factory: factory)
                .record(values.holds)
        }
        Metrics.Gauge(label: "impulse_sessions", factory: factory).record(sessions)
        Metrics.Gauge(label: "impulse_queue_active", factory: factory).record(queue.active)
        Metrics.Gauge(label: "impulse_queue_delayed", factory: factory).record(queue.delayed)
        Metrics.Gauge(label: "impulse_queue_messages", factory: factory).record(queue.messages)
        Metrics.Gauge(label: "impulse_outbound_connections", factory: factory).record(queue.connections)
        Metrics.Gauge(label: "impulse_spool_bytes", factory: factory).record(spoolBytes)
        for pool in pools {
            Metrics.Gauge(label: "impulse_threadpool_queued", dimensions: [("pool", pool.name)], factory: factory)
                .record(pool.queued)
            Metrics.Gauge(label: "impulse_threadpool_running", dimensions: [("pool", pool.name)], factory: factory)
                .record(pool.running)
        }
        return registry.emitToBuffer()
    }
}
