import Synchronization

/// Bounds the memory all sessions together may hold in messages being received
/// (`reception_memory_limit`). A session charges what it buffers as it arrives and gives it back
/// once the message is spooled or dropped; a message that would go over the limit is refused
/// with `452 4.3.1` instead of growing the process without end.
package final class ReceptionMemoryBudget: Sendable {
    package let limit: Int
    private let used = Atomic<Int>(0)

    package init(limit: Int) { self.limit = limit }

    /// Takes `bytes`; false (and nothing taken) when that would pass the limit.
    package func charge(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            if current + bytes > limit { return false }
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    package func release(_ bytes: Int) {
        if bytes > 0 { used.subtract(bytes, ordering: .relaxed) }
    }

    package var inUse: Int { used.load(ordering: .relaxed) }
}
