import ImpulseConfig
import Synchronization

/// The named throttles policies create (msys.shared_throttle, Impulse's form of Momentum's Sieve
/// `ec_shared_throttle_*`; docs/lua/shared_throttle.md). Each is a GCRA clock keyed by its name
/// and rate, allowing `count` events at once and then one per interval. With a throttle store
/// (`cluster { throttle_store }`) every node that shares the store shares the clock; without
/// one, or while the store is unreachable, this process keeps it alone. At most `capacity`
/// local clocks are kept (`siv_throttle_cache_size`); the one used longest ago goes first.
package final class NamedThrottles: Sendable {
    /// What the event asks of the throttle.
    package typealias Operation = RedisThrottleStore.Operation

    package let capacity: Int
    /// The store shared with other nodes (nil: this process alone).
    package let store: RedisThrottleStore?

    private struct Entry {
        var throttle: Throttle
        var lastUsed: Int64
    }

    private let clocks = Mutex([String: Entry]())

    package init(capacity: Int, store: RedisThrottleStore?) {
        self.capacity = max(1, capacity)
        self.store = store
    }

    /// Whether `perform` may block (it calls the store): run it off the event loops then.
    package var blocks: Bool { store != nil }

    /// Carries out `operation` for one event on throttle `name` at `rate`: the µs the event has
    /// to wait (0: it may go now). `take` counts the event only when it may go; `count` always
    /// counts it and answers how long it should have waited; `peek` counts nothing. Blocks while
    /// the store answers; falls back to the local clock when the store is unreachable.
    package func perform(_ operation: Operation, name: String, rate: ThrottleRate, now: Int64 = Throttle.now)
        -> Int64
    {
        guard rate.count > 0 else { return 0 }
        let interval = rate.intervalMicros
        let tolerance = Int64(rate.count - 1) * interval
        if let store, !store.isDown || store.mayTryAgain {
            let key = "impulse:named:\(name):\(rate)"
            switch store.run(operation, key: key, intervalMicros: interval, toleranceMicros: tolerance) {
            case .granted: return 0
            case .wait(let micros): return micros
            case .unavailable: break
            }
        }
        return local(operation, name: name, rate: rate, now: now)
    }

    /// The same step on this process's clock for the throttle.
    private func local(_ operation: Operation, name: String, rate: ThrottleRate, now: Int64) -> Int64 {
        let key = "\(name)\u{0}\(rate)"
        return clocks.withLock { clocks in
            if clocks[key] == nil, clocks.count >= capacity,
                let oldest = clocks.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
            {
                clocks[oldest] = nil
            }
            var entry = clocks[key] ?? Entry(throttle: Throttle(rate, burst: rate.count), lastUsed: now)
            entry.lastUsed = now
            let wait = entry.throttle.wait(now: now)
            switch operation {
            case .peek: break
            case .take: if wait == 0 { entry.throttle.take(now: now) }
            case .count:
                entry.throttle.take(now: now)
                let limit = now + Int64(rate.count) * rate.intervalMicros
                entry.throttle.theoreticalArrival = min(entry.throttle.theoreticalArrival, limit)
            }
            clocks[key] = entry
            return wait
        }
    }

    /// Local clocks kept now.
    package var count: Int { clocks.withLock { $0.count } }
}
