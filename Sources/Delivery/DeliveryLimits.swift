/// Every size, count and time delivery keeps to on its own (the per-domain options are
/// OutboundOptions), with why (docs/delivery.md).
public enum DeliveryLimits {
    /// Octets of message data one piece holds: what a delivery keeps of a message in memory,
    /// whatever the message's size.
    public static let pieceSize = 256 * 1024
    /// Addresses one delivery attempt tries at most, across all MX hosts (Postfix's
    /// `smtp_mx_address_limit`, 5): a DNS answer with hundreds of MX hosts or addresses costs no
    /// more than five connection attempts.
    public static let maxAddressesPerAttempt = 5
    /// MX hosts whose addresses are looked up, in preference order.
    public static let maxMXHosts = 10
    /// Timer ticks (250 ms) between sweeps of idle per-domain queues: once a minute, so mail to
    /// many random domains (backscatter) cannot grow the queue manager without bound.
    public static let idleQueueSweepTicks = 240
    /// How long a queue keeps the `host` scope it found from its next hops' names before it
    /// looks again (µs): an MX change reaches a busy queue within ten minutes.
    public static let hostLookupLifetime: Int64 = 600 * 1_000_000
}
