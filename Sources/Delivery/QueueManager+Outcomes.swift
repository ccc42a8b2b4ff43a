import Foundation
import ImpulseConfig
import NIOCore
import OutboundSMTP
import Spool

/// What happens after an attempt: per recipient delivered, retried later or failed for good;
/// the journal, the logs and the hooks hear of each; permanent failures are bounced.
extension QueueManager {
    static let expiredText = "554 5.4.7 [internal] exceeded max time without delivery"
    static let retriesExhaustedText = "554 5.4.7 [internal] exceeded max retries without delivery"

    /// What `report` decided under the lock and carries out after it, in order.
    enum RecordedOutcome {
        case delivered(DeliveryLog.Attempt)
        case failure(FailureLog)
        case deferred(index: Int, attempts: Int, nextAttemptMicros: Int64)
        case settled(index: Int)
    }

    /// The outcomes of one transaction (in `work.recipients` order).
    func report(
        _ connection: DeliveryConnection, work: DeliveryWork, outcomes: [SMTPClientStateMachine.RecipientOutcome],
        remoteAddress: String, remoteHost: String?, stage: Int, bytes: Int
    ) {
        report(
            key: connection.key, options: connection.options, connectionID: connection.id, work: work,
            outcomes: outcomes, remoteAddress: remoteAddress, remoteHost: remoteHost, stage: stage, bytes: bytes)
    }

    /// The outcomes of one transaction of queue `key` (or of work failed without one).
    func report(
        key: QueueKey, options: ResolvedOutboundOptions, connectionID: Int, work: DeliveryWork,
        outcomes: [SMTPClientStateMachine.RecipientOutcome], remoteAddress: String, remoteHost: String?, stage: Int,
        bytes: Int
    ) {
        let now = Date()
        let nowMicros = Int64(now.timeIntervalSince1970 * 1_000_000)
        let message = work.message
        let entry = message.entry
        let envelope = entry.envelope
        var events: [Event] = []
        var failed: [DeliveryStatusNotification.RecipientStatus] = []
        // Recipients whose failure is reported in a bounce: journaled as settled only once the
        // bounce is durable in the spool (a DSN is never lost to a failed spool write).
        var bouncedIndices: Set<Int> = []
        // Every recipient of one work item was sent with one sender (its own, for a VERP recipient).
        let sender = envelope.sender(of: work.recipients.first ?? 0)
        let bounces = options.generateBounces && !sender.isEmpty
        var retry: [Int] = []
        var retryAt: Int64 = 0
        // Recipients whose sender is told now that they are delayed (once each).
        var delayNotices: [DeliveryStatusNotification.RecipientStatus] = []
        var delayIndices: [Int] = []
        var removeSegment: String?
        // Log lines and journal records are written after the lock: file I/O would make every
        // connection wait for every other one.
        var effects: [RecordedOutcome] = []
        // A failure's event, and its log line: written now, or by whoever fires its hook, after
        // it (the hook's msg:set_code becomes the reason).
        func failure(_ event: Event, _ line: FailureLog) {
            var event = event
            if logsFailureAfterHook?(event.kind) == true {
                event.failureLog = line
            } else {
                effects.append(.failure(line))
            }
            events.append(event)
        }
        // Back-off rules see each distinct failure reply of the transaction once.
        var adapted: [String: SMTPClientStateMachine.RecipientOutcome] = [:]
        var adaptiveLog: [AdaptiveLogLine] = []
        lock.withLock {
            let queue = queues[key]
            for (position, index) in work.recipients.enumerated() {
                guard !message.states[index].settled else { continue }
                var outcome = position < outcomes.count ? outcomes[position] : .transient("no outcome")
                if options.adaptiveEnabled, let text = outcome.failureText {
                    if let known = adapted[text] {
                        outcome = known
                    } else {
                        let replaced = adapt(key: key, reply: text, nowMicros: nowMicros, log: &adaptiveLog)
                        if let replaced {
                            outcome = replaced.first == "5" ? .permanent(replaced) : .transient(replaced)
                        }
                        adapted[text] = outcome
                    }
                }
                let retries = message.states[index].attempts
                let attempt = DeliveryLog.Attempt(
                    messageID: envelope.id, connectionID: connectionID, domain: key.domain,
                    bindingGroup: key.group, binding: key.binding, bytes: bytes, retries: retries,
                    receivedAtMicros: envelope.receivedAtMicros, remoteAddress: remoteAddress)
                let recipient = envelope.recipients[index]
                var permanentText: String?
                let stage = Self.stage(of: outcome, otherwise: stage)
                switch outcome {
                case .delivered(let reply):
                    message.states[index].settled = true
                    queue?.delivered += 1
                    effects.append(.delivered(attempt))
                    events.append(
                        Event(
                            kind: .delivered, entry: entry, recipientIndex: index, key: key, note: reply.description,
                            remoteAddress: remoteAddress, attempts: retries + 1))
                case .permanent(let text):
                    permanentText = text
                case .transient(let text):
                    queue?.lastError = text
                    queue?.lastErrorAt = now
                    message.states[index].attempts += 1
                    let attempts = message.states[index].attempts
                    let expiresAt = envelope.receivedAtMicros + Int64(options.messageExpiration) * 1_000_000
                    if options.neverRetry || (options.maxRetries.map { attempts > $0 } ?? false) {
                        effects.append(
                            .failure(
                                FailureLog(
                                    attempt: attempt, permanent: false, stage: stage, response: text,
                                    recipient: recipient.address, sender: sender)))
                        permanentText = Self.retriesExhaustedText
                    } else if nowMicros >= expiresAt {
                        effects.append(
                            .failure(
                                FailureLog(
                                    attempt: attempt, permanent: false, stage: stage, response: text,
                                    recipient: recipient.address, sender: sender)))
                        permanentText = Self.expiredText
                    } else {
                        let next = min(
                            nowMicros + Int64(options.retryDelay(afterAttempts: attempts)) * 1_000_000, expiresAt)
                        message.states[index].nextAttemptMicros = next
                        if options.generateDelayDSN, !sender.isEmpty, !message.states[index].delayNotified,
                            nowMicros - envelope.receivedAtMicros >= Int64(options.delayDSNRetryInterval) * 1_000_000,
                            Self.wantsDelayNotice(recipient.notify)
                        {
                            message.states[index].delayNotified = true
                            delayIndices.append(index)
                            delayNotices.append(
                                DeliveryStatusNotification.RecipientStatus(
                                    address: recipient.address, originalRecipient: recipient.originalRecipient,
                                    action: .delayed, status: Self.enhancedStatus(in: text, transient: true),
                                    diagnostic: text, remoteMTA: remoteHost, lastAttempt: now,
                                    willRetryUntil: Date(timeIntervalSince1970: Double(expiresAt) / 1_000_000)))
                        }
                        effects.append(.deferred(index: index, attempts: attempts, nextAttemptMicros: next))
                        failure(
                            Event(
                                kind: .transientFailure, entry: entry, recipientIndex: index, key: key, note: text,
                                remoteAddress: remoteAddress, attempts: attempts),
                            FailureLog(
                                attempt: attempt, permanent: false, stage: stage, response: text,
                                recipient: recipient.address, sender: sender))
                        retry.append(index)
                        retryAt = max(retryAt, next)
                    }
                }
                if let text = permanentText {
                    message.states[index].settled = true
                    queue?.failed += 1
                    queue?.lastError = text
                    queue?.lastErrorAt = now
                    let isInternal = text == Self.expiredText || text == Self.retriesExhaustedText
                    failure(
                        Event(
                            kind: .permanentFailure, entry: entry, recipientIndex: index, key: key, note: text,
                            remoteAddress: remoteAddress, attempts: message.states[index].attempts),
                        FailureLog(
                            attempt: attempt, permanent: true, stage: isInternal ? 21 : stage, response: text,
                            recipient: recipient.address, sender: sender))
                    if Self.wantsFailureNotice(recipient.notify) {
                        if bounces { bouncedIndices.insert(index) }
                        failed.append(
                            DeliveryStatusNotification.RecipientStatus(
                                address: recipient.address, originalRecipient: recipient.originalRecipient,
                                action: .failed,
                                status: Self.enhancedStatus(in: text), diagnostic: text,
                                remoteMTA: isInternal ? nil : remoteHost, lastAttempt: now))
                    }
                }
                if message.states[index].settled {
                    message.unsettled -= 1
                    effects.append(.settled(index: index))
                }
            }
            if !retry.isEmpty, let queue {
                postpone(DeliveryWork(message: message, recipients: retry), to: queue, at: retryAt)
            }
            removeSegment = forgetIfSettled(message)
        }
        for effect in effects {
            switch effect {
            case .delivered(let attempt): log.delivery(attempt, now: now)
            case .failure(let line): line.write(to: log)
            case .deferred(let index, let attempts, let next):
                journal.deferred(
                    segment: entry.path, id: envelope.id, index: index, attempts: attempts, nextAttemptMicros: next)
            case .settled(let index):
                if !bouncedIndices.contains(index) {
                    journal.settled(segment: entry.path, id: envelope.id, index: index)
                }
            }
        }
        for line in adaptiveLog { log.adaptive(line) }
        if let onEvent { for event in events { onEvent(event) } }
        if !delayNotices.isEmpty {
            notify(entry, statuses: delayNotices, options: options, sender: sender, settling: [], warned: delayIndices)
        }
        if bounces && !failed.isEmpty {
            bounce(
                entry, failed: failed, options: options, sender: sender, settling: bouncedIndices.sorted(),
                removeSegment: removeSegment)
        } else if let removeSegment {
            journal.removeSegment(removeSegment)
        }
    }

    /// Drops a message whose every recipient is settled; returns its segment when that segment
    /// can now be deleted (caller holds the lock).
    func forgetIfSettled(_ message: QueuedMessage) -> String? {
        guard message.unsettled == 0, messages.removeValue(forKey: message.id) != nil else { return nil }
        let path = message.entry.path
        var segment = segments[path] ?? (1, false)
        segment.live -= 1
        if segment.live <= 0 && segment.closed {
            segments[path] = nil
            return path
        }
        segments[path] = segment
        return nil
    }

    /// The connection stage (Momentum's log stages; docs/delivery.md) an outcome's text names, else `otherwise`.
    static func stage(of outcome: SMTPClientStateMachine.RecipientOutcome, otherwise: Int) -> Int {
        let text: String
        switch outcome {
        case .delivered: return otherwise
        case .transient(let value), .permanent(let value): text = value
        }
        let prefixes: [(String, Int)] = [
            ("greeting", 12), ("EHLO", 10), ("LHLO", 10), ("HELO", 10), ("STARTTLS", 15), ("RSET", 13),
            ("MAIL FROM", 2), ("RCPT TO", 4), ("DATA", 6), ("end of data", 9)
        ]
        return prefixes.first { text.hasPrefix($0.0) }?.1 ?? otherwise
    }

    /// RFC 3461 §4.1: NOTIFY=NEVER, or a NOTIFY without FAILURE, asks for no failure notice.
    static func wantsFailureNotice(_ notify: String?) -> Bool {
        guard let notify = notify?.uppercased() else { return true }
        return notify.contains("FAILURE")
    }

    /// RFC 3461 §4.1: a delay notice only when NOTIFY asks for DELAY, or without NOTIFY (the
    /// MTA's choice; Impulse's is to notify when `generate_delay_dsn` is on).
    static func wantsDelayNotice(_ notify: String?) -> Bool {
        guard let notify = notify?.uppercased() else { return true }
        return notify.contains("DELAY")
    }

    /// The RFC 3463 status in a reply (`550 5.1.1 …` → `5.1.1`), else 5.0.0 — with class 4 for a
    /// recipient still being tried (`transient`: 4.0.0 by default).
    static func enhancedStatus(in text: String, transient: Bool = false) -> String {
        let klass = transient ? "4" : "5"
        for word in text.split(separator: " ").prefix(6) {
            let parts = word.split(separator: ".")
            if parts.count == 3, parts[0] == "5" || parts[0] == "4", parts.allSatisfy({ Int($0) != nil }) {
                return "\(klass).\(parts[1]).\(parts[2])"
            }
        }
        return "\(klass).0.0"
    }

    /// One RFC 3464 report to `sender` (the reverse path the recipients that failed together were
    /// sent with) for those recipients (the
    /// caller checked that one is wanted: not for the null sender, RFC 5321 §4.5.5, nor with
    /// `generate_bounces = false`). The report is spooled (durably) and delivered like any other
    /// message. Only then are the failed recipients (`settling`) journaled as settled and the
    /// original's segment removed when it is done; until then the spool write is tried again
    /// every 30 s, and a restart in between finds the recipients pending and tries them again.
    func bounce(
        _ entry: SpoolDirectory.Entry, failed: [DeliveryStatusNotification.RecipientStatus],
        options: ResolvedOutboundOptions, sender: String,
        settling: [Int], removeSegment: String?
    ) {
        notify(
            entry, statuses: failed, options: options, sender: sender, settling: settling, removeSegment: removeSegment)
    }

    /// One RFC 3464 report (failures, or delays with `generate_delay_dsn`) to `sender`; once it
    /// is spooled, `settling` recipients are journaled settled and `warned` ones as notified.
    func notify(
        _ entry: SpoolDirectory.Entry, statuses failed: [DeliveryStatusNotification.RecipientStatus],
        options: ResolvedOutboundOptions, sender: String, settling: [Int], warned: [Int] = [],
        removeSegment: String? = nil
    ) {
        let envelope = entry.envelope
        let original: [UInt8]
        if options.bouncesInlineOriginal == .none {
            original = []
        } else {
            do {
                original = try entry.readData()
            } catch {
                logger.error(
                    "delivery: cannot read the original for a bounce; sending the report without it",
                    metadata: ["id": "\(envelope.id)", "error": "\(error)"])
                original = []
            }
        }
        var report = DeliveryStatusNotification(
            reportingMTA: settings.hostname, originalSender: sender,
            originalEnvelopeID: envelope.dsnEnvelopeID,
            arrivalDate: Date(timeIntervalSince1970: Double(envelope.receivedAtMicros) / 1_000_000), recipients: failed,
            returnFullMessage: options.bouncesInlineOriginal == .all || envelope.dsnReturn?.uppercased() == "FULL",
            original: original)
        report.mailerDaemon = options.mailerDaemon
        report.omitOriginal = options.bouncesInlineOriginal == .none
        let id = idGenerator.next()
        let bytes = report.render(messageID: id, boundary: "=_impulse_\(id)")
        var bounceEnvelope = SpoolEnvelope(
            id: id, receivedAtMicros: Self.nowMicros(), mailFrom: "",
            recipients: [.init(address: sender)], peerAddress: "127.0.0.1", peerPort: 0,
            helo: settings.hostname, receivedProtocol: "internal", listener: "internal")
        bounceEnvelope.declaredSize = bytes.count
        spoolBounce(
            bounceEnvelope, bytes: bytes, original: entry, settling: settling, warned: warned,
            removeSegment: removeSegment)
    }

    func spoolBounce(
        _ bounceEnvelope: SpoolEnvelope, bytes: [UInt8], original entry: SpoolDirectory.Entry, settling: [Int],
        warned: [Int] = [], removeSegment: String?
    ) {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let logger = self.logger, journal = self.journal, manager = self
        promise.futureResult.whenComplete { result in
            switch result {
            case .success:
                for index in settling { journal.settled(segment: entry.path, id: entry.envelope.id, index: index) }
                for index in warned { journal.delayNotified(segment: entry.path, id: entry.envelope.id, index: index) }
                if let removeSegment { journal.removeSegment(removeSegment) }
            case .failure(let error):
                logger.error(
                    "delivery: cannot spool a bounce; the failed recipients stay pending and the bounce is tried again",
                    metadata: [
                        "original": "\(entry.envelope.id)", "error": "\(error)",
                        "retry_in": "\(manager.bounceRetryDelay)"
                    ])
                loop.scheduleTask(in: manager.bounceRetryDelay) {
                    manager.spoolBounce(
                        bounceEnvelope, bytes: bytes, original: entry, settling: settling, warned: warned,
                        removeSegment: removeSegment)
                }
            }
        }
        spoolWriter.submit(.init(envelope: bounceEnvelope, data: [ByteBuffer(bytes: bytes)], promise: promise))
    }
}
