import NIOConcurrencyHelpers
import NIOCore

/// The open sessions, so that shutdown can reach each one on its own event loop.
final class SessionRegistry: Sendable {
    private let sessions = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<SMTPServerHandler>]())

    func add(_ handler: NIOLoopBound<SMTPServerHandler>, id: ObjectIdentifier) {
        sessions.withLockedValue { $0[id] = handler }
    }

    func remove(_ id: ObjectIdentifier) {
        sessions.withLockedValue { _ = $0.removeValue(forKey: id) }
    }

    var count: Int { sessions.withLockedValue { $0.count } }

    /// Asks every session to finish its transaction and close.
    func drainAll() {
        for handler in sessions.withLockedValue({ Array($0.values) }) {
            handler.eventLoop.execute { handler.value.beginDraining() }
        }
    }

    /// Closes every session that is still open.
    func closeAll() {
        for handler in sessions.withLockedValue({ Array($0.values) }) {
            handler.eventLoop.execute { handler.value.forceClose() }
        }
    }
}
