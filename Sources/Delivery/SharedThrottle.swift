import ImpulseConfig
import SharedThrottles

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
