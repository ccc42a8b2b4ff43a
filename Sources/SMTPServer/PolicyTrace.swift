import Scriptlet
import Spool

/// What `impulse policy test` watches in a running server (docs/policy-test.md): each callout a
/// module implements, with its outcome and the context keys it changed, and each message as it
/// goes to the spool. A serving server has none, and pays nothing for it.
package struct PolicyTrace: Sendable {
    /// One context key a callout set, changed or removed (`new` nil).
    package struct ContextChange: Sendable, Equatable {
        package var message: Bool
        package var key: String
        package var old: String?
        package var new: String?
    }

    /// The session's whole context (connection, message) after a callout.
    package typealias Snapshot = (conn: [String: String], mess: [String: String])

    package var callout:
        @Sendable (_ callout: Callout, _ outcome: CalloutOutcome, _ changes: [ContextChange], _ after: Snapshot) -> Void
    package var spooled: @Sendable (_ envelope: SpoolEnvelope, _ message: [UInt8]) -> Void

    package init(
        callout: @escaping @Sendable (Callout, CalloutOutcome, [ContextChange], Snapshot) -> Void,
        spooled: @escaping @Sendable (SpoolEnvelope, [UInt8]) -> Void
    ) {
        self.callout = callout
        self.spooled = spooled
    }

    /// The keys that differ between two snapshots (PolicyState.contextSnapshot), sorted.
    package static func changes(
        from before: (conn: [String: String], mess: [String: String]),
        to after: (conn: [String: String], mess: [String: String])
    ) -> [ContextChange] {
        var changes: [ContextChange] = []
        for (message, old, new) in [(false, before.conn, after.conn), (true, before.mess, after.mess)] {
            for key in Set(old.keys).union(new.keys).sorted() where old[key] != new[key] {
                changes.append(ContextChange(message: message, key: key, old: old[key], new: new[key]))
            }
        }
        return changes
    }
}
