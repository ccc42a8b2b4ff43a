import Foundation
import ImpulseConfig
import ImpulseMetrics
import Logging
import LuaBridge
import NIOCore
import NIOSSL
import NIOTLS
import PolicyRuntime
import Resolver
import SMTPProtocol
import Scriptlet
import Spool

/// The session's side of the policy: callout outcomes become the machine's decisions, and a
/// callout that waits suspends the session (the effect executor does the waiting).
extension SMTPServerHandler {
    /// The outcome of a policy callout, logged when it failed, fed to the state machine.
    package func decided(_ outcome: CalloutOutcome) -> SMTPSessionStateMachine.Action {
        // Only callouts some module implements ran any Lua (the others are consulted for context keys).
        if services.metricsServed, let currentCallout, policyState?.implements(currentCallout) == true {
            services.metrics.callout(
                currentCallout.rawValue, nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds &- calloutStarted))
        }
        if case .failed(let failure) = outcome { logPolicyFailure(failure) }
        if let trace = services.trace, let currentCallout, let policyState, let before = contextBeforeCallout,
            policyState.implements(currentCallout)
        {
            contextBeforeCallout = nil
            let after = policyState.contextSnapshot(sessionID)
            trace.callout(currentCallout, outcome, PolicyTrace.changes(from: before, to: after), after)
        }
        switch outcome {
        case .reply, .disconnect: replyFromPolicy = true
        default: replyFromPolicy = false
        }
        if let policyState, let changes = policyState.takeChanges(sessionID) {
            for problem in machine.apply(changes) {
                logger.warning("scriptlet: \(problem)", metadata: ["client": "\(clientLabel)"])
            }
        }
        if let policyState, let changed = policyState.takeRecipientChanges(sessionID) {
            for address in machine.replaceRecipients(changed) {
                logger.warning(
                    "scriptlet: recipient '\(address)' set by a script is not a valid address; left out",
                    metadata: ["client": "\(clientLabel)"])
            }
        }
        return machine.policyDecided(outcome)
    }

    /// A callout waits (msys.sleep …): the session waits with it, the event loop does not. The
    /// effect executor does the waiting.
    package func suspend(_ suspension: PolicyState.Suspension, context: ChannelHandlerContext) {
        mode = .waiting
        context.flush()
        let bound = NIOLoopBound((handler: self, suspension: suspension), eventLoop: context.eventLoop)
        let origin = PolicyEffectExecutor.Origin(label: clientLabel, limits: machine.policy.limits)
        services.effects.perform(suspension.effect, origin: origin, on: context.eventLoop).whenSuccess { result in
            bound.value.handler.resumePolicy(bound.value.suspension, with: result)
        }
    }

    package func resumePolicy(_ suspension: PolicyState.Suspension, with result: EffectResult) {
        guard let context, let policyState, policySessionOpen, case .waiting = mode else { return }
        let progress: PolicyState.Progress
        if NIODeadline.now() > policyDeadline {
            progress = policyState.abandon(
                suspension, "callout still suspended after \(machine.policy.limits.commandTimeout)s; abandoned")
        } else {
            progress = policyState.resume(suspension, with: result)
        }
        switch progress {
        case .suspended(let next):
            suspend(next, context: context)
        case .done(let outcome):
            mode = .command
            lastActivity = .now()
            perform(decided(outcome), context: context)
            process(context: context)
            context.flush()
            if context.channel.isWritable { resumeReading(context: context) }
        }
    }

    /// A callout failed: Momentum's two paniclog lines, with where the client was.
    package func logPolicyFailure(_ failure: ScriptletFailure) {
        for line in failure.paniclogLines {
            logger.error("\(line)", metadata: ["client": "\(clientLabel)", "script": "\(failure.script)"])
        }
    }
}
