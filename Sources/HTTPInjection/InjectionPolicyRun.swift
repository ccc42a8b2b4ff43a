import NIOCore
import PolicyRuntime
import SMTPProtocol
import Scriptlet

/// The policy callouts an injected message goes through, in Momentum's order for HTTP (msg_gen)
/// injection: `msg_gen_data_spool`, then `validate_set_binding`, then final validation
/// (`core_final_validation2`, `core_final_validation`, `core_post_final_validation`). They run in
/// the policy state of the event loop serving the request; a callout that waits (DNS, msys.db …)
/// suspends and the effect executor does the waiting, as for SMTP sessions.
final class InjectionPolicyRun {
    static let steps: [(Callout, text: String?)] = [
        (.messageGeneratedDataSpool, nil), (.setBinding, "0"), (.finalValidation2, nil), (.finalValidation, nil),
        (.postFinalValidation, nil)
    ]

    let state: PolicyState
    let session: Int
    let loop: EventLoop
    let effects: PolicyEffectExecutor
    let origin: PolicyEffectExecutor.Origin
    let deadline: NIODeadline
    private var remaining: ArraySlice<(Callout, text: String?)>
    /// Envelope changes of every callout so far (msg:mailfrom, msg:binding …), the last one winning.
    private(set) var changes = PolicyChanges()
    private var completion: ((CalloutOutcome) -> Void)?

    init(
        state: PolicyState, session: Int, loop: EventLoop, effects: PolicyEffectExecutor,
        origin: PolicyEffectExecutor.Origin, timeout: TimeAmount
    ) {
        self.state = state
        self.session = session
        self.loop = loop
        self.effects = effects
        self.origin = origin
        self.deadline = .now() + timeout
        remaining = Self.steps[...]
    }

    /// Runs the steps; `completion` gets `.proceed` when all passed, or the first refusal or failure.
    func run(_ completion: @escaping (CalloutOutcome) -> Void) {
        self.completion = completion
        next()
    }

    private func next() {
        guard let (callout, text) = remaining.popFirst() else { return finish(.proceed) }
        handle(state.start(callout, session: session, text: text))
    }

    private func handle(_ progress: PolicyState.Progress) {
        switch progress {
        case .done(let outcome):
            if let taken = state.takeChanges(session) { merge(taken) }
            switch outcome {
            case .proceed: next()
            case .reply(let code, _) where code < 400: next()
            default: finish(outcome)
            }
        case .suspended(let suspension):
            let bound = NIOLoopBound((run: self, suspension: suspension), eventLoop: loop)
            effects.perform(suspension.effect, origin: origin, on: loop).whenSuccess { result in
                let (run, suspension) = bound.value
                if NIODeadline.now() > run.deadline {
                    run.handle(run.state.abandon(suspension, "callout still suspended at the injection's deadline"))
                } else {
                    run.handle(run.state.resume(suspension, with: result))
                }
            }
        }
    }

    private func merge(_ taken: PolicyChanges) {
        if let value = taken.mailFrom { changes.mailFrom = value }
        changes.recipientRewrites += taken.recipientRewrites
        if let value = taken.routingDomain { changes.routingDomain = value }
        if let value = taken.binding { changes.binding = value }
        if let value = taken.bindingGroup { changes.bindingGroup = value }
        if let value = taken.discard { changes.discard = value }
        if let value = taken.priority { changes.priority = value }
    }

    private func finish(_ outcome: CalloutOutcome) {
        let completion = self.completion
        self.completion = nil
        completion?(outcome)
    }
}
