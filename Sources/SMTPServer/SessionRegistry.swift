import NIOConcurrencyHelpers
import NIOCore

/// The open sessions, so that shutdown can reach each one on its own event loop.
package final class SessionRegistry: Sendable {
    private let sessions = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<SMTPServerHandler>]())
    /// The number of open sessions, for waiting until it is 0 without polling.
    private let open = ConditionLock(value: 0)

    package func add(_ handler: NIOLoopBound<SMTPServerHandler>, id: ObjectIdentifier) {
        let count = sessions.withLockedValue {
            $0[id] = handler
            return $0.count
        }
        open.lock()
        open.unlock(withValue: count)
    }

    package func remove(_ id: ObjectIdentifier) {
        let count = sessions.withLockedValue {
            _ = $0.removeValue(forKey: id)
            return $0.count
        }
        open.lock()
        open.unlock(withValue: count)
    }

    /// Blocks the calling thread (never an event loop) until no session is open or `seconds`
    /// have passed; true when none is open.
    package func waitUntilEmpty(seconds: Double) -> Bool {
        guard open.lock(whenValue: 0, timeoutSeconds: max(0, seconds)) else { return false }
        open.unlock()
        return true
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
