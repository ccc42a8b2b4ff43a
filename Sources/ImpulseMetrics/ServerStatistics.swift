import Delivery
import Foundation
import Synchronization

/// Counters behind the console's `summary` (since start or `summary reset`); each event also
/// goes to the Prometheus metrics, which never reset.
package final class ServerStatistics: Sendable {
    package let metrics: ServerMetrics
    private let sessions = Atomic<Int>(0)
    private let received = Atomic<Int>(0)
    private let recipients = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    private let discarded = Atomic<Int>(0)
    private let delivered = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let transientFailures = Atomic<Int>(0)
    private let started = Date()
    private let resetAt = Mutex(Date())

    /// DKIM signing and verification counts (`signing_stats`).
    package let signing: SigningStatistics

    package init(metrics: ServerMetrics) {
        self.metrics = metrics
        signing = SigningStatistics(metrics: metrics)
    }

    package func sessionOpened() {
        sessions.wrappingAdd(1, ordering: .relaxed)
        metrics.connections.increment()
    }
    /// A message spooled for `recipientDomains` (one entry per recipient).
    package func messageReceived(recipientDomains: [String], binding: String) {
        received.wrappingAdd(1, ordering: .relaxed)
        recipients.wrappingAdd(recipientDomains.count, ordering: .relaxed)
        metrics.received(recipientDomains: recipientDomains, binding: binding)
    }
    /// A 5xx reply to a command or a message (policy or protocol); `recipientDomain` when it
    /// refused a RCPT.
    package func rejection(recipientDomain: String? = nil) {
        rejected.wrappingAdd(1, ordering: .relaxed)
        metrics.rejected.increment()
        if let recipientDomain { metrics.recipientRejected(domain: recipientDomain) }
    }
    package func messageDiscarded() {
        discarded.wrappingAdd(1, ordering: .relaxed)
        metrics.discarded.increment()
    }

    /// One recipient's delivery outcome (per domain and binding in the metrics).
    package func delivery(_ kind: DeliveryOutcomeKind, domain: String, binding: String) {
        switch kind {
        case .delivered: delivered.wrappingAdd(1, ordering: .relaxed)
        case .transientFailure: transientFailures.wrappingAdd(1, ordering: .relaxed)
        case .permanentFailure: failed.wrappingAdd(1, ordering: .relaxed)
        }
        metrics.delivery(kind, domain: domain, binding: binding)
    }

    package func reset() {
        sessions.store(0, ordering: .relaxed)
        received.store(0, ordering: .relaxed)
        recipients.store(0, ordering: .relaxed)
        rejected.store(0, ordering: .relaxed)
        discarded.store(0, ordering: .relaxed)
        delivered.store(0, ordering: .relaxed)
        failed.store(0, ordering: .relaxed)
        transientFailures.store(0, ordering: .relaxed)
        resetAt.withLock { $0 = Date() }
    }

    package struct Snapshot {
        package var sessions, received, recipients, rejected, discarded: Int
        package var uptime: TimeInterval
        package var sinceReset: TimeInterval
        package var delivered = 0, failed = 0, transientFailures = 0
    }

    package var snapshot: Snapshot {
        let now = Date()
        return Snapshot(
            sessions: sessions.load(ordering: .relaxed), received: received.load(ordering: .relaxed),
            recipients: recipients.load(ordering: .relaxed), rejected: rejected.load(ordering: .relaxed),
            discarded: discarded.load(ordering: .relaxed), uptime: now.timeIntervalSince(started),
            sinceReset: now.timeIntervalSince(resetAt.withLock { $0 }),
            delivered: delivered.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed),
            transientFailures: transientFailures.load(ordering: .relaxed))
    }
}

/// A recipient's delivery outcome, as the statistics count it.
package typealias DeliveryOutcomeKind = QueueManager.Event.Kind
