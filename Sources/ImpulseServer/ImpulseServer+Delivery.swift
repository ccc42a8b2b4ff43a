import Delivery
import Foundation
import ImpulseMetrics
import Logs
import PolicyRuntime
import SMTPProtocol
import SMTPServer
import Scriptlet
import Spool

/// Wires the spool to outbound delivery: what the writer makes durable is logged (mainlog `R`)
/// and queued; closed segments are offered for removal; delivery outcomes fire the
/// `core_log_*_v1` hooks in the scheduler's Lua state.
extension ImpulseServer {
    func startDelivery(recovered: [SpoolDirectory.Entry]) {
        let manager = queueManager
        let log = deliveryLog
        let logReceptions = log.mainlogPath != nil
        services.spoolWriter.onCommit = { entries in
            for entry in entries where logReceptions {
                let envelope = entry.envelope
                for (index, recipient) in envelope.recipients.enumerated() {
                    let (binding, group) = envelope.binding(of: index)
                    log.reception(
                        messageID: envelope.id, sessionID: 0, recipient: recipient.address,
                        sender: envelope.sender(of: index), clientIP: envelope.peerAddress, size: entry.dataLength,
                        protocolName: envelope.receivedProtocol == "internal" ? "internal" : "esmtp",
                        bindingGroup: group ?? "default", binding: binding ?? "default")
                }
            }
            manager.accepted(entries)
        }
        services.spoolWriter.onSegmentClosed = { manager.segmentClosed($0) }
        manager.onEvent = { [weak self] event in self?.deliveryEvent(event) }
        let hookNames = deliveryHookNames
        manager.logsFailureAfterHook = { kind in
            let hook = kind == .permanentFailure ? "core_log_permanent_failure_v1" : "core_log_transient_failure_v1"
            return kind != .delivered && hookNames.withLockedValue { $0.contains(hook) }
        }
        journal.start()
        services.spoolWriter.start()
        manager.start(recovered: control.sync { rebind(recovered) })
    }

    /// Momentum runs validate_set_binding again for messages found in the spool at start-up
    /// (the binding a policy chose may depend on configuration that changed), once per
    /// recipient as at reception. Runs in the scheduler's state, on the control queue; a policy
    /// that chooses nothing keeps the stored binding.
    func rebind(_ entries: [SpoolDirectory.Entry]) -> [SpoolDirectory.Entry] {
        guard let state = policy.value?.scheduler, state.implements(.setBinding) else { return entries }
        return entries.map { entry in
            var entry = entry
            let envelope = entry.envelope
            let sessionID = services.makeSessionID()
            state.openSession(
                sessionID, connectionContext: envelope.context.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                peer: (envelope.peerAddress, envelope.peerPort))
            state.beginMessage(sessionID)
            let stored = entry
            state.offerMessage(sessionID, size: entry.dataLength, messageID: envelope.id) {
                (try? stored.readData()) ?? []
            }
            // Its waits (DNS …) are carried out by the effect executor; the control queue waits.
            let waitFor: (PolicyEffect) -> EffectResult = { [effects = services.effects, loop = group.next()] effect in
                (try? effects.perform(effect, origin: .init(label: "recovery", limits: SMTPLimits()), on: loop).wait())
                    ?? .failed("effect executor stopped")
            }
            for (index, recipient) in envelope.recipients.enumerated() {
                state.setContexts(
                    sessionID,
                    [
                        ContextUpdate(message: true, key: "mailfrom_address", value: envelope.sender(of: index)),
                        ContextUpdate(message: true, key: "rcptto_address", value: recipient.address)
                    ])
                if case .failed(let failure) = state.run(
                    .setBinding, session: sessionID, text: String(index), waitFor: waitFor)
                {
                    logger.error(
                        """
                        scriptlet: module \(failure.module) (\(failure.script)): validate_set_binding failed for a \
                        recovered message: \(failure.message); keeping its binding
                        """,
                        metadata: ["id": "\(envelope.id)", "recipient": "\(recipient.address)"])
                } else if let changes = state.takeChanges(sessionID),
                    changes.binding != nil || changes.bindingGroup != nil
                {
                    entry.envelope.recipients[index].binding = changes.binding
                    entry.envelope.recipients[index].bindingGroup = changes.bindingGroup
                }
            }
            entry.envelope.shareCommonRecipientValues()
            state.closeSession(sessionID)
            return entry
        }
    }

    /// Fires the delivery hook for one recipient's outcome, on the control queue (where the
    /// scheduler's state lives), when some module implements it. A failing hook is logged;
    /// delivery goes on.
    func deliveryEvent(_ event: QueueManager.Event) {
        statistics.delivery(event.kind, domain: event.key.domain, binding: event.key.binding)
        let hook: String
        switch event.kind {
        case .delivered: hook = "core_log_delivery_v1"
        case .transientFailure: hook = "core_log_transient_failure_v1"
        case .permanentFailure: hook = "core_log_permanent_failure_v1"
        }
        let log = deliveryLog
        guard deliveryHooks.contains(hook) else {
            event.failureLog?.write(to: log)
            return
        }
        let sessionID = services.makeSessionID()
        let logger = self.logger
        let policy = self.policy
        control.async {
            guard let state = policy.value?.scheduler else {
                event.failureLog?.write(to: log)
                return
            }
            let envelope = event.entry.envelope
            let recipient = envelope.recipients[event.recipientIndex]
            state.openSession(
                sessionID, connectionContext: envelope.context.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                peer: (envelope.peerAddress, envelope.peerPort))
            state.setContexts(
                sessionID,
                [
                    ContextUpdate(
                        message: true, key: "mailfrom_address", value: envelope.sender(of: event.recipientIndex)),
                    ContextUpdate(message: true, key: "rcptto_address", value: recipient.address),
                    ContextUpdate(message: true, key: "rcptto_domain", value: event.key.domain),
                    // What msg:get_code answers in the hook: the next hop's reply.
                    ContextUpdate(message: true, key: "#delivery_reply", value: event.note)
                ])
            let entry = event.entry
            state.offerMessage(sessionID, size: entry.dataLength, messageID: envelope.id) {
                (try? entry.readData()) ?? []
            }
            let record: [String: String] = [
                "type": "domain_record", "domain": event.key.domain, "name": event.key.domain,
                "binding": event.key.binding,
                "binding_group": event.key.group, "remote_addr": event.remoteAddress,
                "attempts": String(event.attempts)
            ]
            // The hook may wait (msys.dnsLookup …): the session closes once it has ended.
            state.fireHookWaiting(
                hook, session: sessionID,
                [
                    .message, .opaque(record), .number(Date().timeIntervalSince1970),
                    .text(event.note)
                ]
            ) { result in
                if case .failure(let failure) = result {
                    logger.error(
                        """
                        scriptlet: module \(failure.module) (\(failure.script)): \(hook) failed: \
                        \(failure.message); delivery goes on
                        """
                    )
                }
                // The reason logged is the one the hook set with msg:set_code, if it set one.
                event.failureLog?.write(
                    to: log, reason: state.context(sessionID, message: true, "#delivery_code"))
                state.closeSession(sessionID)
            }
        }
    }
}
