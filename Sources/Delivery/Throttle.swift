import ImpulseConfig
import NIOCore

/// A rate limit kept as the generic cell rate algorithm (GCRA, ITU-T I.371): one time, the
/// theoretical arrival time of the next event, advanced by the rate's interval per event taken.
/// An event may go when that time is at most `burst - 1` intervals ahead of now. Events are
/// spaced evenly, and a late wake-up is absorbed by the burst allowance instead of lowering the
/// rate. Mutated only under the queue manager's lock.
struct Throttle {
    let rate: ThrottleRate
    /// µs on the monotonic clock (`Throttle.now`).
    var theoreticalArrival: Int64 = 0
    /// Events taken since start, and times work was held by this throttle.
    var taken = 0
    var holds = 0

    init(_ rate: ThrottleRate) { self.rate = rate }

    /// A new rate that keeps an earlier throttle's clock and counts (back-off changes the rate
    /// of a throttle in use).
    init(_ rate: ThrottleRate, keeping earlier: Throttle?) {
        self.rate = rate
        theoreticalArrival = earlier?.theoreticalArrival ?? 0
        taken = earlier?.taken ?? 0
        holds = earlier?.holds ?? 0
    }

    /// µs until an event may go (0: now).
    func wait(now: Int64) -> Int64 {
        let tolerance = Int64(rate.burst - 1) * rate.intervalMicros
        return max(0, theoreticalArrival - tolerance - now)
    }

    /// Counts one event (the caller checked `wait` first).
    mutating func take(now: Int64) {
        theoreticalArrival = max(theoreticalArrival, now) + rate.intervalMicros
        taken += 1
    }

    /// The monotonic clock throttles run on, in µs.
    static var now: Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1000) }
}

/// One configured throttle, shared by every queue whose option lookup ends at the scope that
/// sets it (Momentum's throttles "by reference"). Made on first use and kept: there is one per
/// throttle setting in the configuration. Mutated only under the queue manager's lock.
final class SharedThrottle: @unchecked Sendable {
    /// The scope that sets it (`global`, `domain example.com`, `binding b1 host /re/` …).
    let scope: String
    /// `messages` or `connections`.
    let kind: String
    var throttle: Throttle
    /// Queues the throttle holds, in the order they came, and when its wake-up is due
    /// (monotonic µs; 0: none scheduled).
    var waiting = WaitingLine()
    var wakeAt: Int64 = 0

    init(_ defined: ScopedRate, kind: String) {
        scope = defined.scope
        self.kind = kind
        throttle = Throttle(defined.rate)
    }
}

/// The connection cap of one `host` scope for one binding, and the scope's throttles: every
/// queue whose next hop falls in the scope shares them (MX rollup). Mutated only under the queue
/// manager's lock.
final class HostLimiter: @unchecked Sendable {
    /// `binding` then the scope's name, e.g. `default host mx.example.com`.
    let key: String
    let limits: HostLimits
    var connections = 0
    var messageThrottle: SharedThrottle?
    var connectionThrottle: SharedThrottle?
    /// Queues using it now (it is forgotten when none does and no connection is open).
    var queues = 0
    /// Idle connections counted in `connections` (one may be closed for a domain that waits).
    var idle: [DeliveryConnection] = []

    init(key: String, limits: HostLimits, messageThrottle: SharedThrottle?, connectionThrottle: SharedThrottle?) {
        self.key = key
        self.limits = limits
        self.messageThrottle = messageThrottle
        self.connectionThrottle = connectionThrottle
    }

    /// Whether one more connection stays within the scope's cap.
    var hasConnectionRoom: Bool { limits.maxOutboundConnections.map { connections < $0 } ?? true }
}
