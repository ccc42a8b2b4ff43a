import Foundation
import Synchronization

/// Counters behind the console's `summary` (since start or `summary reset`).
final class ServerStatistics: Sendable {
    private let sessions = Atomic<Int>(0)
    private let received = Atomic<Int>(0)
    private let recipients = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    private let discarded = Atomic<Int>(0)
    private let started = Date()
    private let resetAt = Mutex(Date())

    func sessionOpened() { sessions.wrappingAdd(1, ordering: .relaxed) }
    func messageReceived(recipients count: Int) {
        received.wrappingAdd(1, ordering: .relaxed)
        recipients.wrappingAdd(count, ordering: .relaxed)
    }
    /// A 5xx reply to a command or a message (policy or protocol).
    func rejection() { rejected.wrappingAdd(1, ordering: .relaxed) }
    func messageDiscarded() { discarded.wrappingAdd(1, ordering: .relaxed) }

    func reset() {
        sessions.store(0, ordering: .relaxed)
        received.store(0, ordering: .relaxed)
        recipients.store(0, ordering: .relaxed)
        rejected.store(0, ordering: .relaxed)
        discarded.store(0, ordering: .relaxed)
        resetAt.withLock { $0 = Date() }
    }

    struct Snapshot {
        var sessions, received, recipients, rejected, discarded: Int
        var uptime: TimeInterval
        var sinceReset: TimeInterval
    }

    var snapshot: Snapshot {
        let now = Date()
        return Snapshot(sessions: sessions.load(ordering: .relaxed), received: received.load(ordering: .relaxed),
                        recipients: recipients.load(ordering: .relaxed), rejected: rejected.load(ordering: .relaxed),
                        discarded: discarded.load(ordering: .relaxed), uptime: now.timeIntervalSince(started),
                        sinceReset: now.timeIntervalSince(resetAt.withLock { $0 }))
    }
}
