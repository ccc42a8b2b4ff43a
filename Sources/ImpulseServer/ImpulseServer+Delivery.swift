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
        services.spoolWriter.onCommit = { [weak self] entries in
            for entry in entries where logReceptions {
                let envelope = entry.envelope
                for (index, recipient) in envelope.recipients.enumerated() {
                    let (binding, group) = envelope.binding(of: index)
                    log.reception(
                        messageID: envelope.id, sessionID: 0, recipient: recipient.address,
                        sender: envelope.sender(of: index), clientIP: envelope.peerAddress, size: entry.dataLength,
                        protocolName: Self.mainlogProtocol(envelope.receivedProtocol),
                        bindingGroup: group ?? "default", binding: binding ?? "default")
                }
            }
            guard let self else { return manager.accepted(entries) }
            self.enqueueThroughPolicy(entries)
        }
        services.spoolWriter.onSegmentClosed = { manager.segmentClosed($0) }
        let outbound = configuration.outbound
        manager.mtaSTS = MTASTSPolicies(
            resolver: resolver,
            settings: .init(
                port: outbound.mtaSTSHTTPSPort, caFile: outbound.mtaSTSCA,
                storeDirectory: outbound.mtaSTSPolicyStore ?? configuration.spoolbase + "/mtasts"),
            group: group, blockingWork: deliveryWork, logger: logger)
        manager.onEvent = { [weak self] event in self?.deliveryEvent(event) }
        let hookNames = deliveryHookNames
        manager.onRequeue = { [weak self] entry, index, key in self?.messageRequeued(entry, index: index, key: key) }
        manager.outboundTLSHook = { [weak self] entry, index, key, configured, done in
            self?.outboundTLSParameters(entry, index: index, key: key, configured: configured, done: done) ?? false
        }
        manager.logsFailureAfterHook = { kind in
            let hook = kind == .permanentFailure ? "core_log_permanent_failure_v1" : "core_log_transient_failure_v1"
            return kind != .delivered && hookNames.withLockedValue { $0.contains(hook) }
        }
        journal.start()
        services.spoolWriter.start()
        manager.start(recovered: control.sync { recoveredThroughPolicy(rebind(recovered)) })
    }

    /// core_ec_message_enqueue for the recipients of recovered messages still to deliver (their
    /// hook may not have run before the stop), on the control queue before delivery starts. The
    /// hook cannot wait here (the queue is not running yet): one that tries fails, and the
    /// recipient is queued.
    func recoveredThroughPolicy(_ entries: [SpoolDirectory.Entry]) -> [SpoolDirectory.Entry] {
        let hook = "core_ec_message_enqueue"
        guard deliveryHooks.contains(hook), let state = policy.value?.scheduler else { return entries }
        return entries.map { entry in
            var entry = entry
            for index in entry.envelope.recipients.indices where entry.recipientStates[index]?.settled != true {
                let sessionID = services.makeSessionID()
                Self.openMessageSession(
                    state, sessionID, entry: entry, index: index, domain: entry.envelope.queueDomain(of: index))
                let outcome = state.fireHook(
                    hook, session: sessionID, [.message, .number(Date().timeIntervalSince1970)])
                state.closeSession(sessionID)
                entry = enqueueOutcome(outcome, entry: entry, index: index, hook: hook)
            }
            return entry
        }
    }

    /// What a core_ec_message_enqueue outcome does to recipient `index` of `entry`.
    func enqueueOutcome(
        _ outcome: Result<String?, ScriptletFailure>, entry: SpoolDirectory.Entry, index: Int, hook: String
    ) -> SpoolDirectory.Entry {
        switch outcome {
        case .success("taken"?):
            return queueManager.takenByPolicy(entry, index: index, failed: false, reason: "taken by policy")
        case .success("failed"?):
            return queueManager.takenByPolicy(
                entry, index: index, failed: true, reason: "554 5.3.0 [internal] refused by policy when queued")
        case .success:
            return entry
        case .failure(let failure):
            logger.error(
                """
                scriptlet: module \(failure.module) (\(failure.script)): \(hook) failed: \(failure.message); \
                the message is queued
                """)
            return entry
        }
    }

    /// The protocol field of a mainlog `R` line, Momentum's words: `esmtp`, `rest` (HTTP
    /// injection), `internal` (made by the server).
    static func mainlogProtocol(_ received: String) -> String {
        switch received {
        case "internal": return "internal"
        case "HTTP": return "rest"
        default: return "esmtp"
        }
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
            Self.openMessageSession(state, sessionID, entry: entry, index: 0, domain: envelope.queueDomain(of: 0))
            // Its waits (DNS …) are carried out by the effect executor; the control queue waits.
            let waitFor: (PolicyEffect) -> EffectResult = { [effects = services.effects, loop = group.next()] effect in
                (try? effects.perform(effect, origin: .init(label: "recovery", limits: SMTPLimits()), on: loop).wait())
                    ?? .failed("effect executor stopped")
            }
            for (index, recipient) in envelope.recipients.enumerated()
            where entry.recipientStates[index]?.settled != true {
                state.setContexts(
                    sessionID,
                    [
                        ContextUpdate(message: true, key: "mailfrom_address", value: envelope.sender(of: index)),
                        ContextUpdate(message: true, key: "rcptto_address", value: recipient.address),
                        ContextUpdate(message: true, key: "rcptto_domain", value: envelope.queueDomain(of: index))
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
            // What msg:get_code answers in the hook: the next hop's reply.
            Self.openMessageSession(
                state, sessionID, entry: event.entry, index: event.recipientIndex, domain: event.key.domain,
                extra: [ContextUpdate(message: true, key: "#delivery_reply", value: event.note)])
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

    /// A session in the scheduler's state for a hook about recipient `index` of a queued message:
    /// its connection context, sender, recipient and queue domain, and its content on demand.
    static func openMessageSession(
        _ state: PolicyState, _ sessionID: Int, entry: SpoolDirectory.Entry, index: Int, domain: String,
        extra: [ContextUpdate] = []
    ) {
        let envelope = entry.envelope
        state.openSession(
            sessionID, connectionContext: envelope.context.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            peer: (envelope.peerAddress, envelope.peerPort))
        state.setContexts(
            sessionID,
            [
                ContextUpdate(message: true, key: "mailfrom_address", value: envelope.sender(of: index)),
                ContextUpdate(message: true, key: "rcptto_address", value: envelope.recipients[index].address),
                ContextUpdate(message: true, key: "rcptto_domain", value: domain)
            ] + extra)
        state.offerMessage(sessionID, size: entry.dataLength, messageID: envelope.id) {
            (try? entry.readData()) ?? []
        }
    }

    /// Messages the spool writer made durable go to the queue manager; when the policy has a
    /// `core_ec_message_enqueue` hook it runs first, once per recipient, in the scheduler's state
    /// (on the control queue): a recipient a module took (EC_MESSAGE_ENQUEUE_HOOK_OK, or _ERR) is
    /// settled and not delivered by Impulse.
    func enqueueThroughPolicy(_ entries: [SpoolDirectory.Entry]) {
        let hook = "core_ec_message_enqueue"
        guard deliveryHooks.contains(hook) else { return queueManager.accepted(entries) }
        let manager = queueManager, policy = self.policy, services = self.services
        control.async { [self] in
            guard let state = policy.value?.scheduler else { return manager.accepted(entries) }
            var pending = entries.indices.flatMap { entry in
                entries[entry].envelope.recipients.indices.map { (entry, $0) }
            }[...]
            var result = entries
            // One recipient after another: each hook may wait, and completes on this queue.
            func next() {
                guard let (entryIndex, index) = pending.popFirst() else { return manager.accepted(result) }
                let sessionID = services.makeSessionID()
                let entry = result[entryIndex]
                Self.openMessageSession(
                    state, sessionID, entry: entry, index: index, domain: entry.envelope.queueDomain(of: index))
                state.fireHookWaiting(hook, session: sessionID, [.message, .number(Date().timeIntervalSince1970)]) {
                    outcome in
                    state.closeSession(sessionID)
                    result[entryIndex] = self.enqueueOutcome(outcome, entry: entry, index: index, hook: hook)
                    next()
                }
            }
            next()
        }
    }

    /// `core_pre_mailq_message_requeue(msg, now)`: work whose retry time came goes back to its
    /// queue; the hook runs in the scheduler's state (it changes nothing of the delivery).
    func messageRequeued(_ entry: SpoolDirectory.Entry, index: Int, key: QueueKey) {
        let hook = "core_pre_mailq_message_requeue"
        guard deliveryHooks.contains(hook) else { return }
        let sessionID = services.makeSessionID()
        let policy = self.policy, logger = self.logger
        control.async {
            guard let state = policy.value?.scheduler else { return }
            Self.openMessageSession(state, sessionID, entry: entry, index: index, domain: key.domain)
            state.fireHookWaiting(hook, session: sessionID, [.message, .number(Date().timeIntervalSince1970)]) {
                outcome in
                if case .failure(let failure) = outcome {
                    logger.error(
                        "scriptlet: module \(failure.module) (\(failure.script)): \(hook) failed: \(failure.message)")
                }
                state.closeSession(sessionID)
            }
        }
    }

    /// `core_get_outbound_tls_parameters(msg, params)` before an outbound connection starts:
    /// `params.use_tls` (0, 1, 2) and what msys.tls_params.set put there override the
    /// configuration for that connection. A failing hook leaves the configuration in force.
    /// False (and `done` is never called) when no module implements the hook.
    func outboundTLSParameters(
        _ entry: SpoolDirectory.Entry, index: Int, key: QueueKey, configured: Int,
        done: @escaping @Sendable (OutboundTLSParameters?) -> Void
    ) -> Bool {
        let hook = "core_get_outbound_tls_parameters"
        guard deliveryHooks.contains(hook) else { return false }
        let sessionID = services.makeSessionID()
        let policy = self.policy, logger = self.logger
        control.async {
            guard let state = policy.value?.scheduler else { return done(nil) }
            Self.openMessageSession(state, sessionID, entry: entry, index: index, domain: key.domain)
            state.fireHookWaiting(hook, session: sessionID, [.message, .opaque(["use_tls": String(configured)])]) {
                outcome in
                state.closeSession(sessionID)
                switch outcome {
                case .success(let text):
                    var values: [String: String] = [:]
                    for line in (text ?? "").split(separator: "\n") {
                        guard let equals = line.firstIndex(of: "=") else { continue }
                        values[String(line[..<equals])] = String(line[line.index(after: equals)...])
                    }
                    done(OutboundTLSParameters(values))
                case .failure(let failure):
                    logger.error(
                        """
                        scriptlet: module \(failure.module) (\(failure.script)): \(hook) failed: \
                        \(failure.message); the configured TLS settings apply
                        """)
                    done(nil)
                }
            }
        }
        return true
    }
}
