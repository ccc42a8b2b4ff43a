import ImpulseConfig
import NIOCore

/// A rate limit kept as the generic cell rate algorithm (GCRA, ITU-T I.371): one time, the
/// theoretical arrival time of the next event, advanced by the rate's interval per event taken.
/// An event may go when that time is at most `burst - 1` intervals ahead of now. Events are
/// spaced evenly, and a late wake-up is absorbed by the burst allowance instead of lowering the
/// rate. A value: its owner keeps it under a lock.
package struct Throttle: Sendable {
    package let rate: ThrottleRate
    /// Events that may go at once (the rate's `burst` unless given).
    package let burst: Int
    /// µs on the monotonic clock (`Throttle.now`).
    package var theoreticalArrival: Int64 = 0
    /// Events taken since start, and times work was held by this throttle.
    package var taken = 0
    package var holds = 0

    package init(_ rate: ThrottleRate, burst: Int? = nil) {
        self.rate = rate
        self.burst = max(1, burst ?? rate.burst)
    }

    /// A new rate that keeps an earlier throttle's clock and counts (back-off changes the rate
    /// of a throttle in use).
    package init(_ rate: ThrottleRate, keeping earlier: Throttle?) {
        self.rate = rate
        burst = rate.burst
        theoreticalArrival = earlier?.theoreticalArrival ?? 0
        taken = earlier?.taken ?? 0
        holds = earlier?.holds ?? 0
    }

    /// µs until an event may go (0: now).
    package func wait(now: Int64) -> Int64 {
        let tolerance = Int64(burst - 1) * rate.intervalMicros
        return max(0, theoreticalArrival - tolerance - now)
    }

    /// Counts one event (the caller checked `wait` first).
    package mutating func take(now: Int64) {
        theoreticalArrival = max(theoreticalArrival, now) + rate.intervalMicros
        taken += 1
    }

    /// The monotonic clock throttles run on, in µs.
    package static var now: Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1000) }
}
