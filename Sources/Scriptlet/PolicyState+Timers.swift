import Foundation
import LuaBridge

/// The Swift half of msys.timer: the owner of a state says how to run something later on the
/// state's own thread (`timerScheduler`); a fired timer calls back into Lua there.
extension PolicyState {
    /// Something scheduled that can be cancelled.
    public typealias TimerCancel = () -> Void
    /// Runs a closure after a delay on this state's thread; set by the state's owner.
    public typealias TimerScheduler = (_ seconds: Double, _ body: @escaping () -> Void) -> TimerCancel

    func installTimers() {
        lua.setInternal(.setTimerMetatable) { arguments in
            arguments.storeInRegistry(1, key: "impulse.timer.mt")
            return .values([])
        }
        lua.setInternal(.newTimer) { _ in .newUserdata(metatableKey: "impulse.timer.mt") }
        lua.setInternal(.timer) { [unowned self] arguments in
            guard let operation = arguments.string(1), let id = arguments[2].integer(in: 0...Int(Int32.max)) else {
                return .error("timer: bad call")
            }
            switch operation {
            case "cancel":
                stoppedTimers.insert(id)
                timers.removeValue(forKey: id)?()
            case "start":
                guard let seconds = arguments[3].finiteNumber, seconds >= 0, seconds <= PolicyLimits.maxTimerDelay
                else { return .error("timer: bad delay") }
                let repeating = arguments[4] == .boolean(true)
                guard let timerScheduler else { return .error("msys.timer: timers are not available in this state") }
                timers.removeValue(forKey: id)?()
                stoppedTimers.remove(id)
                arm(id, after: seconds, repeating: repeating, scheduler: timerScheduler)
            default:
                return .error("timer: unknown operation")
            }
            return .values([])
        }
    }

    private func arm(_ id: Int, after seconds: Double, repeating: Bool, scheduler: @escaping TimerScheduler) {
        timers[id] = scheduler(seconds) { [weak self] in
            guard let self else { return }
            timers[id] = nil
            // The callback may wait (msys.sleep, msys.dnsLookup …); a repeating timer is armed
            // again once it has ended, unless it stopped itself or was collected.
            runWaiting(.timerFire, [.number(Double(id))]) { [weak self] run in
                guard let self, repeating, case .finished(let results) = run, results.first == .boolean(true),
                    timers[id] == nil, !stoppedTimers.contains(id)
                else { return }
                arm(id, after: seconds, repeating: true, scheduler: scheduler)
            }
        }
    }

    /// Cancels every timer (the state is being retired).
    public func cancelTimers() {
        for cancel in timers.values { cancel() }
        timers.removeAll()
    }
}
