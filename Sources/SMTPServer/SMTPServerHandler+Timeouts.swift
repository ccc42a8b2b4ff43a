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

/// Deadlines (idle, data, session length, TLS handshake, close) and shutdown: draining and
/// forced close.
extension SMTPServerHandler {
    package func scheduleTimeout(context: ChannelHandlerContext) {
        let timeout: Int64
        switch mode {
        case .data, .chunk: timeout = machine.policy.limits.dataTimeout
        default: timeout = machine.policy.limits.commandTimeout
        }
        var deadline = lastActivity + .seconds(timeout)
        let lifetime = machine.policy.limits.maxSessionDuration
        if lifetime > 0 { deadline = min(deadline, sessionStarted + .seconds(lifetime)) }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(deadline: max(deadline, .now() + .milliseconds(100))) {
            guard let context = bound.value.context else { return }
            bound.value.checkTimeout(context: context)
        }
    }

    package func checkTimeout(context: ChannelHandlerContext) {
        if case .closed = mode { return }
        let lifetime = machine.policy.limits.maxSessionDuration
        let waiting: Bool
        if case .waiting = mode { waiting = true } else { waiting = false }
        // Not while our own work (the spool, a callout) is under way: its reply comes first.
        if lifetime > 0, !waiting, NIODeadline.now() >= sessionStarted + .seconds(lifetime) {
            closeWith(machine.lifetimeExceeded(), context: context)
            return
        }
        switch mode {
        case .closed: return
        case .waiting:
            break // our own work (spool, handshake) is not the client's silence
        case .data, .chunk:
            if NIODeadline.now() >= lastActivity + .seconds(machine.policy.limits.dataTimeout) {
                closeWith(machine.timedOut(), context: context)
                return
            }
        case .command, .handshaking:
            if NIODeadline.now() >= lastActivity + .seconds(machine.policy.limits.commandTimeout) {
                closeWith(machine.timedOut(), context: context)
                return
            }
        }
        if case .waiting = mode { lastActivity = .now() }
        scheduleTimeout(context: context)
    }

    package func beginDraining() {
        guard let context else { return }
        if case .command = mode, let reply = machine.beginDraining() {
            closeWith(reply, context: context)
        } else {
            _ = machine.beginDraining()
        }
    }

    package func forceClose() {
        guard let context else { return }
        mode = .closed
        context.close(promise: nil)
    }
}
