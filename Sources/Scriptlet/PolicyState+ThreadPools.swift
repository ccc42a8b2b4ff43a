import Foundation
import LuaBridge

/// The Swift half of msys.runInPool / msys.threadpool (Lua/impulse-threadpools.lua is the Lua
/// half). The pools themselves belong to the server; a PolicyState only reaches them through
/// `poolSubmitter` and `poolInfo`.
extension PolicyState {
    func installThreadPools() {
        lua.setInternal(.poolSubmit) { [unowned self] arguments in
            guard let pool = arguments.string(1), let payload = arguments.octets(2) else {
                return .error("msys.runInPool: bad job")
            }
            guard let submitter = poolSubmitter else {
                return .values([.boolean(false), .string("no thread pools here")])
            }
            if let problem = submitter(pool, payload, arguments.octets(3)) {
                return .values([.boolean(false), .string(problem)])
            }
            return .values([.boolean(true)])
        }
        lua.setInternal(.poolInfo) { [unowned self] arguments in
            guard let operation = arguments.string(1) else { return .values([.nil]) }
            return .values(poolInfo?(operation, arguments.string(2) ?? "") ?? [.nil])
        }
        lua.setInternal(.block) { [unowned self] arguments in
            // Reachable from a pool's state (msys.sleep / msys.readfile there block the thread) and,
            // for msys.db, from wherever no coroutine can suspend.
            switch arguments.string(1) {
            case "sleep":
                guard case .number(let seconds) = arguments[2], seconds.isFinite, seconds > 0 else {
                    return .values([])
                }
                Thread.sleep(forTimeInterval: min(seconds, PolicyLimits.maxSleep))
                return .values([])
            case "readfile":
                return .values(PolicyEffect.readFile(arguments.string(2) ?? "").luaValues)
            case "db", "http", "throttle":
                // msys.db, msys.http and msys.shared_throttle outside a coroutine: the console, a
                // pool's job, init.
                switch PolicyEffect.decode(arguments) {
                case .failure(let failure): return .error(failure.message)
                case .success(let effect):
                    guard let perform = self.blockingEffects else {
                        return .values(EffectResult.failed("nothing can wait here").luaValues)
                    }
                    return .values(perform(effect).luaValues)
                }
            default:
                return .error("impulse: unknown blocking call")
            }
        }
    }

    /// Runs a marshalled msys.runInPool job in this (pool-owned) state; the marshalled results.
    public func runPoolJob(_ payload: [UInt8]) -> [UInt8] {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        do {
            if let result = try lua.callInternal(.poolRun, [.bytes(payload)]).first?.octets { return result }
        } catch {
            return Self.failedJob(error.message)
        }
        return Self.failedJob("the pool job returned nothing")
    }

    /// Runs a completion function (ECTP_COMPLETE_CALLBACK_SCHED) with a job's results, in this
    /// (event loop's) state.
    public func runPoolCompletion(_ completion: [UInt8], results: [UInt8]) {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        _ = try? lua.callInternal(.poolComplete, [.bytes(completion), .bytes(results)])
    }

    /// The marshalled form of `false, message` (a job that could not run).
    public static func failedJob(_ message: String) -> [UInt8] {
        Array("local R, K, L, U = {}, ...\nreturn { n = 2, false, \(luaQuoted(message)) }".utf8)
    }
}
