import NIOConcurrencyHelpers
import NIOCore

/// The open sessions, so that shutdown can reach each one on its own event loop.
package final class SessionRegistry: Sendable {
    private let sessions = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<SMTPServerHandler>]())

    package func add(_ handler: NIOLoopBound<SMTPServerHandler>, id: ObjectIdentifier) {
        sessions.withLockedValue { $0[id] = handler }
    }

    package func remove(_ id: ObjectIdentifier) {
        sessions.withLockedValue { _ = $0.removeValue(forKey: id) }
    }

    package var count: Int { sessions.withLockedValue { $0.count } }

    /// Asks every session to finish its transaction and close.
    package func drainAll() {
        for handler in sessions.withLockedValue({ Array($0.values) }) {
            handler.eventLoop.execute { handler.value.beginDraining() }
        }
    }

    /// Closes every session that is still open.
    package func closeAll() {
        for handler in sessions.withLockedValue({ Array($0.values) }) {
            handler.eventLoop.execute { handler.value.forceClose() }
        }
    }
}
