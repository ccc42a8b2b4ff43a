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

/// STARTTLS (RFC 3207) and implicit TLS: the handshake, its deadline, and what a completed
/// handshake resets.
extension SMTPServerHandler {
    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            handshakePending = false
            let version =
                (try? context.pipeline.syncOperations.nioSSL_tlsVersion()).flatMap { $0 }.map { "\($0)" } ?? "TLS"
            if policySessionOpen { policyState?.setContext(sessionID, message: false, "tls", version) }
            guard case .handshaking = mode else {
                // An implicit-TLS connection: the session began at connect (its greeting, and a
                // connect callout that may still be suspended, decide what runs); nothing resets.
                machine.implicitTLSEstablished(description: version)
                return
            }
            machine.tlsEstablished(description: version)
            inbound.clear()
            framer = CommandLineFramer(maxLineLength: machine.policy.limits.maxCommandLineLength)
            mode = .command
            lastActivity = .now()
            process(context: context)
            context.flush()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func startTLS(_ reply: SMTPReply, context: ChannelHandlerContext) {
        guard let tlsContext else {
            // The state machine offers STARTTLS only with a context; should the two ever disagree,
            // the client hears so instead of waiting for a handshake that never comes.
            write(.startTLSNotAvailable, context: context)
            context.flush()
            return
        }
        if inbound.readableBytes > 0 {
            // Octets pipelined behind STARTTLS (CVE-2011-0411) are never executed.
            logger.warning(
                "command injection after STARTTLS",
                metadata: [
                    "client": "\(clientLabel)", "octets": "\(inbound.readableBytes)",
                    "policy": "\(machine.policy.startTLSInjectionPolicy)"
                ])
            inbound.clear()
            if machine.policy.startTLSInjectionPolicy == .reject {
                closeWith(.pipelinedAfterStartTLS, context: context)
                return
            }
        }
        mode = .handshaking
        write(reply, context: context)
        context.flush()
        startHandshakeDeadline(context: context)
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
        } catch {
            logger.error("cannot start TLS", metadata: ["client": "\(clientLabel)", "error": "\(error)"])
            mode = .closed
            context.close(promise: nil)
        }
    }

    /// A TLS handshake (after STARTTLS, or an implicit-TLS connection's) must finish in time.
    package func startHandshakeDeadline(context: ChannelHandlerContext) {
        handshakePending = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(machine.policy.limits.tlsHandshakeTimeout)) {
            guard bound.value.handshakePending, channel.isActive else { return }
            bound.value.logger.info("TLS handshake timed out", metadata: ["client": "\(bound.value.clientLabel)"])
            bound.value.mode = .closed
            channel.close(promise: nil)
        }
    }
}
