import DequeModule
import Foundation
import ImpulseConfig
import SharedThrottles
import Spool

/// Which queue a piece of work is in: the binding (and its group) it leaves from and the
/// routing domain it goes to.
public struct QueueKey: Hashable, Sendable, CustomStringConvertible {
    public var binding: String
    public var group: String
    public var domain: String

    public var description: String { "\(group)/\(binding) \(domain)" }
}

/// A spooled message while it has recipients to settle. Its content stays in the spool and is
/// read for each attempt; every domain's work refers to this one object. Mutated only under
/// the queue manager's lock.
final class QueuedMessage: @unchecked Sendable {
    let entry: SpoolDirectory.Entry
    var states: [DeliveryJournal.RecipientState]
    var unsettled: Int
    /// The binding and group it leaves from (chosen once, when queued).
    var binding = "default"
    var group = "default"
    /// Recipients a policy gave a binding of their own (by index).
    var recipientBindings: [Int: (binding: String, group: String)] = [:]

    init(entry: SpoolDirectory.Entry) {
        self.entry = entry
        states = entry.envelope.recipients.indices.map { entry.recipientStates[$0] ?? DeliveryJournal.RecipientState() }
        unsettled = states.filter { !$0.settled }.count
    }

    var id: String { entry.envelope.id }

    /// The binding and group recipient `index` leaves from.
    func binding(of index: Int) -> (binding: String, group: String) {
        recipientBindings[index] ?? (binding, group)
    }

    /// The queue recipient `index` belongs to.
    func queueKey(of index: Int) -> QueueKey {
        let (binding, group) = binding(of: index)
        return QueueKey(binding: binding, group: group, domain: entry.envelope.queueDomain(of: index))
    }

    /// `work` without the recipients settled meanwhile (an operator failed them); nil when none is left.
    func live(_ work: DeliveryWork) -> DeliveryWork? {
        let open = work.recipients.filter { !states[$0].settled }
        if open.isEmpty { return nil }
        return DeliveryWork(message: self, recipients: open)
    }
}

/// Some recipients of one message, all for one queue: what one transaction delivers.
struct DeliveryWork: @unchecked Sendable {
    let message: QueuedMessage
    var recipients: [Int]
}

/// Work waiting for its next attempt.
struct DelayedWork: Comparable, @unchecked Sendable {
    var dueMicros: Int64
    var sequence: Int
    var key: QueueKey
    var work: DeliveryWork

    static func < (lhs: DelayedWork, rhs: DelayedWork) -> Bool {
        (lhs.dueMicros, lhs.sequence) < (rhs.dueMicros, rhs.sequence)
    }

    static func == (lhs: DelayedWork, rhs: DelayedWork) -> Bool { lhs.sequence == rhs.sequence }
}

/// One binding/domain queue: work ready to go now, and its connections.
final class DomainQueue: @unchecked Sendable {
    let key: QueueKey
    let options: ResolvedOutboundOptions
    var ready = Deque<DeliveryWork>()
    /// Open connections (connecting, busy or idle).
    var connections = 0
    /// Connections with nothing to do, waiting up to idle_timeout for more work.
    var idle: [DeliveryConnection] = []
    /// Work waiting in the delayed set (for the console).
    var delayed = 0
    /// No next hop answered: new work waits until then (µs since the epoch; 0 = reachable).
    var unreachableUntil: Int64 = 0
    /// The last failure's reply and when it happened (console `domain`).
    var lastError: String?
    var lastErrorAt: Date?
    /// Recipients delivered and failed for good through this queue since start.
    var delivered = 0
    var failed = 0
    /// outbound_throttle_messages / _connections in force for this binding and domain, shared
    /// with every queue whose lookup ends at the same scope.
    var messageThrottle: SharedThrottle?
    var connectionThrottle: SharedThrottle?
    /// cluster_outbound_throttle_messages / _connections in force (shared through the store).
    var clusterMessageThrottle: ClusterThrottle?
    var clusterConnectionThrottle: ClusterThrottle?
    /// The queue's own lower rate while back-off throttles it down.
    var adaptiveThrottle: Throttle?
    /// The `host` scope its next hop falls in, once looked up (only when host scopes exist).
    var host: HostLimiter?
    var hostLookup = HostLookup.notYet
    /// Whether a look-up has finished once (until then the queue opens no connection).
    var hostLookupDoneOnce = false
    /// Its next hops' names as last looked up (host scopes; connection migration).
    var hostNames: [String] = []
    /// When the throttle wake-up already scheduled fires (monotonic µs; 0: none).
    var wakeAt: Int64 = 0
    /// Messages sent in the current and the previous minute (what back-off halves when no
    /// throttle is set), and when the current minute began (monotonic µs).
    var sentThisWindow = 0
    var sentLastWindow = 0
    var windowStart: Int64 = 0

    /// Where finding the queue's `host` scope stands.
    enum HostLookup {
        case notYet
        case running
        /// Done at this time (monotonic µs); looked up again after `DeliveryLimits.hostLookupLifetime`.
        case done(at: Int64)
    }

    init(key: QueueKey, options: ResolvedOutboundOptions) {
        self.key = key
        self.options = options
    }
}
