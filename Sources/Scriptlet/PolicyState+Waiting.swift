import LuaBridge

/// Lua that runs outside a callout — a timer's callback, a delivery hook — may wait too
/// (msys.sleep, msys.dnsLookup …): it runs in a coroutine of its own, and each effect it asks for
/// goes to the state owner's `effectPerformer` (the server's effect executor), the same one
/// SMTP sessions use.
extension PolicyState {
    /// Carries out an effect and calls `resume` on this state's thread when it ended.
    public typealias EffectPerformer = (_ effect: PolicyEffect, _ resume: @escaping (EffectResult) -> Void) -> Void

    /// How a `runWaiting` call ended.
    enum WaitingRun {
        case finished([LuaValue])
        case failed(String)
    }

    /// Runs internal entry `entry` with `arguments` in a new coroutine under the watchdog (each
    /// stretch between waits gets the full budget, as callouts do); `completion` runs on this
    /// state's thread, at once when nothing waited.
    func runWaiting(
        _ entry: ScriptletABI.LuaEntry, _ arguments: [LuaValue], then completion: @escaping (WaitingRun) -> Void
    ) {
        guard let function = lua.reference(internal: entry),
            let coroutine = LuaCoroutine(state: lua, function: function)
        else {
            completion(.failed("\(entry.rawValue) is missing"))
            return
        }
        drive(coroutine, arguments, completion)
    }

    private func drive(_ coroutine: LuaCoroutine, _ arguments: [LuaValue], _ completion: @escaping (WaitingRun) -> Void)
    {
        let run = resumeGuarded(coroutine, arguments)
        if run.memoryExceeded {
            lua.collectGarbage()
            completion(.failed("memory limit of \(memoryLimit) octets exceeded (scriptlet max_memory)"))
            return
        }
        switch run.outcome {
        case .finished(let results):
            completion(.finished(results))
        case .failed(let error):
            completion(.failed(error.message))
        case .yielded:
            if run.watchdogFired {
                completion(.failed("watchdog: script ran too long (and kept running after the error)"))
            } else if let effect = run.effect {
                guard let effectPerformer else {
                    // Nobody carries out effects for this state (a test's): the run fails
                    // rather than resuming at once, which could loop without end.
                    completion(.failed("\(effect): nothing carries out waits in this state"))
                    return
                }
                effectPerformer(effect) { [weak self] result in self?.drive(coroutine, result.luaValues, completion) }
            } else {
                completion(.failed("coroutine.yield is not supported here"))
            }
        }
    }
}
