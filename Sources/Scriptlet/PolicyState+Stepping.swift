import Foundation
import ImpulseConfig
import LuaBridge

/// Running a callout's coroutine: each resumption guarded (watchdog, memory limit, the effect it
/// asked for), effects answered at once resumed in place, suspensions handed to the caller, and
/// `run` for callers that carry out the waits themselves.
extension PolicyState {
    /// Continues a suspended callout with how its effect ended.
    public func resume(_ suspension: Suspension, with result: EffectResult) -> Progress {
        step(suspension.coroutine, suspension.callout, session: suspension.session, result.luaValues)
    }

    /// Continues a suspended callout as if its effect had ended at once with nothing (tests, and
    /// places that cannot wait).
    public func resumeAtOnce(_ suspension: Suspension) -> Progress {
        step(suspension.coroutine, suspension.callout, session: suspension.session, [])
    }

    /// One resumption of a coroutine Impulse runs (a callout's, a timer's, a hook's): armed with
    /// the watchdog's budget and checked against the memory limit, with the effect it asked for
    /// when it suspended through `SwiftFunction.suspend`.
    struct GuardedResumption {
        var outcome: LuaCoroutine.Outcome
        /// The watchdog's budget ran out (the script may have caught the error and gone on).
        var watchdogFired: Bool
        /// An allocation was refused for the memory limit (also when the script caught it).
        var memoryExceeded: Bool
        /// What the coroutine waits for, when it yielded to wait.
        var effect: PolicyEffect?
    }

    func resumeGuarded(_ coroutine: LuaCoroutine, _ arguments: [LuaValue]) -> GuardedResumption {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        _ = lua.takeMemoryLimitExceeded() // what ran before is not this run's doing
        pendingEffect = nil
        let outcome = coroutine.resume(arguments)
        var effect: PolicyEffect?
        if case .yielded(let values) = outcome, values == [.string(ScriptletABI.effectMarker)] {
            effect = pendingEffect
        }
        pendingEffect = nil
        return GuardedResumption(
            outcome: outcome, watchdogFired: lua.watchdogFired, memoryExceeded: lua.takeMemoryLimitExceeded(),
            effect: effect)
    }

    func step(_ coroutine: LuaCoroutine, _ callout: Callout, session: Int, _ arguments: [LuaValue]) -> Progress {
        var run = resumeGuarded(coroutine, arguments)
        // Effects answered at once (a cached DNS answer) resume the script here, up to a bound:
        // past it the callout suspends as usual, so a script looping on cached look-ups still
        // meets the event loop and its command deadline.
        var immediate = 0
        while let effect = run.effect, !run.memoryExceeded, !run.watchdogFired,
            immediate < PolicyLimits.immediateEffectsPerStep, let answer = immediateEffects?(effect)
        {
            immediate += 1
            run = resumeGuarded(coroutine, answer.luaValues)
        }
        if run.memoryExceeded {
            // Even when the script caught "not enough memory" and went on, the callout failed
            // (a suspension it asked for is dropped with it, and its coroutine is not reused).
            lua.collectGarbage()
            return .done(
                .failed(
                    failure(
                        in: callout, session: session,
                        "memory limit of \(memoryLimit) octets exceeded (scriptlet max_memory)")))
        }
        switch run.outcome {
        case .finished(let results):
            return .done(CalloutReport(results[...], callout: callout.rawValue).outcome)
        case .failed(let error):
            return .done(.failed(failure(in: callout, session: session, error.message)))
        case .yielded(let request):
            if request.count == 1, request[0] == .number(0) {
                // The callout ran to its end and decided nothing: the coroutine waits for the next one.
                reuse(coroutine, watchdogFired: run.watchdogFired)
                recipientsChanged = false
                changesPending = false
                return .done(.proceed)
            }
            if request.first == .string(ScriptletABI.calloutDone) {
                reuse(coroutine, watchdogFired: run.watchdogFired)
                let report = CalloutReport(request.dropFirst(), callout: callout.rawValue)
                recipientsChanged = report.recipientsChanged
                changesPending = report.changesPending
                return .done(report.outcome)
            }
            if run.watchdogFired {
                // The script caught the watchdog's error and went on; its coroutine is dropped.
                return .done(
                    .failed(
                        failure(
                            in: callout, session: session,
                            "watchdog: script ran too long (and kept running after the error)")))
            }
            if let effect = run.effect {
                return .suspended(Suspension(effect: effect, coroutine: coroutine, callout: callout, session: session))
            }
            return .done(
                .failed(failure(in: callout, session: session, "coroutine.yield inside a callout is not supported")))
        }
    }

    /// A callout that ran to its end waits for the next one (unless the watchdog stopped it).
    private func reuse(_ coroutine: LuaCoroutine, watchdogFired: Bool) {
        if idleWorkers.count < PolicyLimits.idleWorkers, !watchdogFired { idleWorkers.append(coroutine) }
    }

    /// A failure Impulse itself detects in `callout`, naming the module (and its script) the
    /// session was running, as the paniclog lines must.
    func failure(in callout: Callout, session: Int, _ message: String) -> ScriptletFailure {
        let running = (try? call(entry.runningModule, [.number(Double(session))])) ?? []
        func text(_ index: Int) -> String {
            if case .string(let value)? = running.dropFirst(index).first { return value } else { return "?" }
        }
        return ScriptletFailure(module: text(0), script: text(1), callout: callout.rawValue, message: message)
    }

    /// Gives up a suspended callout (it waited longer than the client may wait for a reply).
    public func abandon(_ suspension: Suspension, _ message: String) -> Progress {
        .done(.failed(failure(in: suspension.callout, session: suspension.session, message)))
    }

    /// Runs `callout` to the end on this thread: each effect it waits for is `waitFor`'s to carry
    /// out, blocking this thread (for a state whose thread may block: the scheduler's, at
    /// start-up); without `waitFor` a suspension ends at once with nothing (tests).
    public func run(
        _ callout: Callout, session id: Int, text: String? = nil,
        waitFor: ((PolicyEffect) -> EffectResult)? = nil
    ) -> CalloutOutcome {
        var progress = start(callout, session: id, text: text)
        while case .suspended(let suspension) = progress {
            progress = waitFor.map { resume(suspension, with: $0(suspension.effect)) } ?? resumeAtOnce(suspension)
        }
        guard case .done(let outcome) = progress else { return .proceed }
        return outcome
    }
}
