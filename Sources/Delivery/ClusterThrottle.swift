import ImpulseConfig
import SharedThrottles

/// A `cluster_outbound_throttle_*` throttle: its permits come from the cluster's throttle store
/// (RedisThrottleStore), one request at a time, so every node sharing the store shares the rate.
/// While the store is unreachable the node keeps the rate by itself (`local`). Mutated only under
/// the queue manager's lock.
final class ClusterThrottle: @unchecked Sendable {
    /// The store's key: kind, defining scope and rate.
    let key: String
    let scope: String
    /// `messages` or `connections`.
    let kind: String
    let rate: ThrottleRate
    /// Permits the store granted and no event used yet.
    var permits = 0
    /// A request to the store is under way.
    var requesting = false
    /// The store said to ask again then (monotonic µs).
    var retryAt: Int64 = 0
    /// The same rate, kept by this node alone while the store is unreachable.
    var local: Throttle
    /// Queues waiting for a permit: pumped when an answer comes.
    var waiting: Set<QueueKey> = []
    /// Events taken through it since start.
    var taken = 0

    init(_ defined: ScopedRate, kind: String) {
        scope = defined.scope
        self.kind = kind
        rate = defined.rate
        key = "impulse:throttle:\(kind):\(defined.scope):\(defined.rate)"
        local = Throttle(defined.rate)
    }
}
