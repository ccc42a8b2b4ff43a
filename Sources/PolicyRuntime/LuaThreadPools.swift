import ImpulseConfig
import LuaBridge
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Scriptlet

/// Momentum's thread pools for `msys.runInPool`: named pools of threads, each thread with a Lua
/// state of its own (every script loaded, made when the thread first runs a job), so a job never
/// runs in a session's state. Threads start when a pool gets its first job.
package final class LuaThreadPools: Sendable {
    /// Why a job was not run.
    package enum Refusal: Error, CustomStringConvertible {
        case noSuchPool(String)
        case noThreads(String)
        case full(String, Int)
        case stopped

        package var description: String {
            switch self {
            case .noSuchPool(let name): return "no thread pool named '\(name)'"
            case .noThreads(let name): return "thread pool \(name) has no threads (Concurrency = 0)"
            case .full(let name, let backlog): return "thread pool \(name) has \(backlog) jobs waiting (its Backlog)"
            case .stopped: return "thread pools are stopped"
            }
        }
    }

    /// A Lua state owned by one pool thread (or why it could not be made). Unchecked: it lives
    /// in thread-specific storage, so only the thread that made it ever reads it.
    package final class ThreadState: @unchecked Sendable {
        let state: PolicyState?
        let failure: String?
        init(state: PolicyState?, failure: String?) {
            self.state = state
            self.failure = failure
        }
    }

    package final class Pool: Sendable {
        package let definition: ThreadPoolDefinition
        let id: Int
        private let threads = NIOLockedValueBox<NIOThreadPool?>(nil)
        private let counts = NIOLockedValueBox((queued: 0, running: 0, completed: 0))
        let states = ThreadSpecificVariable<ThreadState>()

        init(_ definition: ThreadPoolDefinition, id: Int) {
            self.definition = definition
            self.id = id
        }

        /// The pool's threads, started on first use.
        func started() -> NIOThreadPool {
            threads.withLockedValue { threads in
                if let threads { return threads }
                let pool = NIOThreadPool(numberOfThreads: definition.concurrency)
                pool.start()
                threads = pool
                return pool
            }
        }

        /// Takes a place in the queue, or says why not.
        func enqueue() -> Refusal? {
            counts.withLockedValue { counts in
                if definition.backlog > 0 && counts.queued >= definition.backlog {
                    return .full(definition.name, definition.backlog)
                }
                counts.queued += 1
                return nil
            }
        }

        func began() {
            counts.withLockedValue {
                $0.queued -= 1
                $0.running += 1
            }
        }
        func ended() {
            counts.withLockedValue {
                $0.running -= 1
                $0.completed += 1
            }
        }
        func abandoned() { counts.withLockedValue { $0.queued = max(0, $0.queued - 1) } }
        package var statistics: (queued: Int, running: Int, completed: Int) { counts.withLockedValue { $0 } }

        func shutdown() {
            let pool = threads.withLockedValue { threads -> NIOThreadPool? in
                defer { threads = nil }
                return threads
            }
            try? pool?.syncShutdownGracefully()
        }
    }

    package let pools: [Pool]
    private let makeState: @Sendable () throws -> PolicyState

    package init(_ definitions: [ThreadPoolDefinition], makeState: @escaping @Sendable () throws -> PolicyState) {
        pools = definitions.enumerated().map { Pool($0.element, id: $0.offset) }
        self.makeState = makeState
    }

    /// A pool by name (case-insensitive, as in the configuration) or by id.
    package func find(_ nameOrID: String) -> Pool? {
        if let id = Int(nameOrID), pools.indices.contains(id) { return pools[id] }
        return pools.first { $0.definition.name.lowercased() == nameOrID.lowercased() }
    }

    /// Runs a marshalled job in `poolName`; the future (on `eventLoop`) gives the marshalled results.
    package func run(_ poolName: String, payload: [UInt8], on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        guard let pool = find(poolName) else { return eventLoop.makeFailedFuture(Refusal.noSuchPool(poolName)) }
        guard pool.definition.concurrency > 0 else {
            return eventLoop.makeFailedFuture(Refusal.noThreads(pool.definition.name))
        }
        if let refusal = pool.enqueue() { return eventLoop.makeFailedFuture(refusal) }
        let makeState = makeState
        let result = pool.started().runIfActive(eventLoop: eventLoop) { () -> [UInt8] in
            pool.began()
            defer { pool.ended() }
            let owned: ThreadState
            if let existing = pool.states.currentValue {
                owned = existing
            } else {
                do {
                    owned = ThreadState(state: try makeState(), failure: nil)
                } catch {
                    owned = ThreadState(state: nil, failure: "\(error)")
                }
                pool.states.currentValue = owned
            }
            guard let state = owned.state else { return PolicyState.failedJob(owned.failure ?? "no Lua state") }
            return state.runPoolJob(payload)
        }
        // A job the pool never started (it was stopping) leaves the queue too.
        result.whenFailure { _ in pool.abandoned() }
        return result
    }

    /// msys.threadpool.count / find / stat.
    package func info(_ operation: String, _ pool: String) -> [LuaValue] {
        switch operation {
        case "count": return [.number(Double(pools.count))]
        case "find": return [find(pool).map { .number(Double($0.id)) } ?? .nil]
        case "stat":
            guard let found = find(pool) else { return [.nil] }
            let stats = found.statistics
            return [
                .string(found.definition.name), .number(Double(found.id)),
                .number(Double(found.definition.concurrency)),
                .number(Double(stats.queued)), .number(Double(stats.running)), .number(Double(stats.completed))
            ]
        default: return [.nil]
        }
    }

    package func shutdown() { pools.forEach { $0.shutdown() } }
}
