import Dispatch

/// A value that lives on the server's control queue — the scheduler's Lua state, the installed
/// policy generation, closures that touch them — and may be handed across threads only to be
/// used back there. Like swift-nio's `NIOLoopBound` for an event loop: every read and write
/// checks (`dispatchPrecondition`) that it runs on the control queue, so a slip is a crash at
/// the faulty line, never a data race.
final class ControlQueueBound<Value>: @unchecked Sendable {
    private let queue: DispatchQueue
    private var storage: Value

    /// Made before anything runs on `queue`, or on it.
    init(_ value: Value, on queue: DispatchQueue) {
        self.queue = queue
        self.storage = value
    }

    var value: Value {
        get {
            dispatchPrecondition(condition: .onQueue(queue))
            return storage
        }
        set {
            dispatchPrecondition(condition: .onQueue(queue))
            storage = newValue
        }
    }
}

/// A weak reference, for a Lua state's own closures (which must not keep the state alive after a
/// reload retired it). Not Sendable: carry it inside a `ControlQueueBound` or `NIOLoopBound`.
final class WeakReference<Object: AnyObject> {
    weak var object: Object?
    init(_ object: Object) { self.object = object }
}
