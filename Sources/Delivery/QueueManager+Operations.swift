import Foundation
import HeapModule
import ImpulseConfig
import OutboundSMTP
import Spool

/// What an operator does to the queue from the console (docs/console.md): retry a
/// message now, fail messages (with or without a bounce), flush a domain's delayed mail,
/// suspend and resume a domain, and the views behind `showqueue` and `domain`.
extension QueueManager {
    /// One piece of queued work, for `showqueue`.
    public struct QueuedItem: Sendable {
        public var id: String
        public var key: QueueKey
        public var receivedAtMicros: Int64
        public var sender: String
        public var recipients: [String]
        /// nil: active (due now or being delivered); else the next attempt, µs since the epoch.
        public var nextAttemptMicros: Int64?
    }

    /// The state of one domain's queues, for `domain <name>`.
    public struct DomainReport: Sendable {
        public var key: QueueKey
        public var active: Int
        public var delayed: Int
        public var connections: Int
        public var delivered: Int
        public var failed: Int
        public var oldestMicros: Int64?
        public var nextAttemptMicros: Int64?
        public var lastError: String?
        public var lastErrorAt: Date?
        public var suspended: Bool
    }

    /// `message retry <id>`: the message's delayed work is due now. False when it has none.
    public func retry(messageID id: String) -> Bool {
        releaseNow { $0.work.message.id == id } > 0
    }

    /// `flush domain <domain|all>`: every delayed message of the domain (nil: all) is due now;
    /// returns how many pieces of work moved.
    public func flush(domain: String?) -> Int {
        releaseNow { domain == nil || $0.key.domain == domain }
    }

    /// msys.core.mail_queue_delay_domain: the domain's queues (every binding) wait out their retry
    /// interval, as if their next hop had not answered: the work ready now is delayed and no new
    /// connection opens until then; deliveries under way finish. `reason` is the queues' last
    /// error (console `domain`). Returns how many pieces of work were delayed.
    public func delay(domain: String, reason: String) -> Int {
        let nowMicros = Self.nowMicros()
        return lock.withLock {
            var moved = 0
            for queue in queues.values where queue.key.domain.lowercased() == domain.lowercased() {
                queue.unreachableUntil = nowMicros + Int64(queue.options.retryInterval) * 1_000_000
                queue.lastError = reason
                queue.lastErrorAt = Date()
                while let work = queue.ready.popFirst() {
                    postpone(work, to: queue, at: queue.unreachableUntil)
                    moved += 1
                }
            }
            return moved
        }
    }

    /// Moves matching delayed work to its queue and starts delivering it.
    func releaseNow(_ matches: (DelayedWork) -> Bool) -> Int {
        var starts: [Start] = []
        var moved = 0
        lock.withLock {
            var keep: [DelayedWork] = []
            var touched: [ObjectIdentifier: DomainQueue] = [:]
            for item in delayed.unordered {
                guard matches(item) else {
                    keep.append(item)
                    continue
                }
                let queue = queue(item.key)
                queue.delayed -= 1
                queue.unreachableUntil = 0 // the operator asks for an attempt now
                if let work = item.work.message.live(item.work) {
                    queue.ready.append(work)
                    touched[ObjectIdentifier(queue)] = queue
                    moved += 1
                }
            }
            delayed = Heap(keep)
            for queue in touched.values { starts += pump(queue) }
        }
        run(starts)
        return moved
    }

    /// `message fail [quiet] <id>` and `message delete <id>`: every unsettled recipient fails
    /// with `text` (logged as P; bounced unless `quiet`). False when the message is not queued.
    public func fail(messageID id: String, text: String, quiet: Bool) -> Bool {
        fail(where: { $0.id == id }, text: text, quiet: quiet) > 0
    }

    /// `fail domain [quiet] <domain> [text]`: every queued message with a recipient for `domain`
    /// (nil: every queued message) fails for those recipients; returns how many messages.
    public func fail(domain: String?, text: String, quiet: Bool) -> Int {
        fail(where: { _ in true }, recipientDomain: domain, text: text, quiet: quiet)
    }

    func fail(where matches: (QueuedMessage) -> Bool, recipientDomain: String? = nil, text: String, quiet: Bool) -> Int
    {
        let now = Date()
        var events: [Event] = []
        /// A bounce to spool; its recipients are journaled as settled (and the segment removed)
        /// only once it is durable, as for a failure a next hop reports.
        var bounces:
            [(
                SpoolDirectory.Entry, [DeliveryStatusNotification.RecipientStatus], ResolvedOutboundOptions, [Int],
                String?, sender: String
            )] = []
        var removals: [String] = []
        var count = 0
        lock.withLock {
            for message in messages.values where matches(message) {
                let envelope = message.entry.envelope
                // Each report goes to the sender its recipients were sent with (a VERP sender is per recipient).
                var statuses: [String: [DeliveryStatusNotification.RecipientStatus]] = [:]
                var noticed: [String: [Int]] = [:]
                var unnoticed: [Int] = []
                var options: ResolvedOutboundOptions?
                for (index, recipient) in envelope.recipients.enumerated() where !message.states[index].settled {
                    let key = message.queueKey(of: index)
                    let (domain, binding, group) = (key.domain, key.binding, key.group)
                    if let recipientDomain, domain != recipientDomain { continue }
                    let sender = envelope.sender(of: index)
                    let queue = queue(key)
                    options = options ?? queue.options
                    message.states[index].settled = true
                    message.unsettled -= 1
                    queue.failed += 1
                    let attempt = DeliveryLog.Attempt(
                        messageID: envelope.id, connectionID: 0, domain: domain, bindingGroup: group,
                        binding: binding, bytes: 0, retries: message.states[index].attempts,
                        receivedAtMicros: envelope.receivedAtMicros, remoteAddress: "")
                    log.failure(
                        attempt, permanent: true, stage: 21, response: text, recipient: recipient.address,
                        sender: sender, now: now)
                    events.append(
                        Event(
                            kind: .permanentFailure, entry: message.entry, recipientIndex: index, key: key, note: text,
                            remoteAddress: "", attempts: message.states[index].attempts))
                    if Self.wantsFailureNotice(recipient.notify), !quiet, !sender.isEmpty {
                        statuses[sender, default: []].append(
                            .init(
                                address: recipient.address, originalRecipient: recipient.originalRecipient,
                                action: .failed,
                                status: Self.enhancedStatus(in: text), diagnostic: text, lastAttempt: now))
                        noticed[sender, default: []].append(index)
                    } else {
                        unnoticed.append(index)
                    }
                }
                guard let options else { continue }
                count += 1
                let bounced = options.generateBounces
                for index in bounced ? unnoticed : unnoticed + noticed.values.flatMap({ $0 }) {
                    journal.settled(segment: message.entry.path, id: envelope.id, index: index)
                }
                var segment = forgetIfSettled(message)
                if bounced && !statuses.isEmpty {
                    // The segment goes once the report is durable. With reports to several
                    // senders (VERP) none of them removes it: start-up removes a segment whose
                    // recipients are all settled, and no report can be lost to an early removal.
                    let single = statuses.count == 1
                    for sender in statuses.keys.sorted() {
                        bounces.append(
                            (
                                message.entry, statuses[sender] ?? [], options, noticed[sender] ?? [],
                                single ? segment : nil, sender: sender
                            ))
                    }
                    segment = nil
                }
                if let segment {
                    removals.append(segment)
                }
            }
            // Work of failed recipients still in the delayed set goes now (counts stay right).
            var keep: [DelayedWork] = []
            for item in delayed.unordered {
                if item.work.message.live(item.work) != nil {
                    keep.append(item)
                } else {
                    queues[item.key]?.delayed -= 1
                }
            }
            delayed = Heap(keep)
            for queue in queues.values { queue.ready.removeAll { $0.message.live($0) == nil } }
        }
        if let onEvent { for event in events { onEvent(event) } }
        for (entry, statuses, options, settling, segment, sender) in bounces {
            bounce(
                entry, failed: statuses, options: options, sender: sender, settling: settling, removeSegment: segment)
        }
        for segment in removals { journal.removeSegment(segment) }
        return count
    }

    /// `suspend domain <d>` / `resume domain <d>`: holds or releases a domain's mail at run time
    /// (as `suspend_delivery` does from the configuration).
    public func setSuspended(_ suspended: Bool, domain: String) {
        var starts: [Start] = []
        lock.withLock {
            if suspended {
                suspendedDomains.insert(domain)
            } else {
                suspendedDomains.remove(domain)
                for queue in queues.values where queue.key.domain == domain { starts += pump(queue) }
            }
        }
        run(starts)
    }

    /// The work queued for `domain` (and `binding`, unless nil), oldest first.
    public func items(domain: String, binding: String?) -> [QueuedItem] {
        lock.withLock {
            var items: [QueuedItem] = []
            func add(_ work: DeliveryWork, key: QueueKey, next: Int64?) {
                guard key.domain == domain, binding == nil || key.binding == binding, let live = work.message.live(work)
                else { return }
                let envelope = live.message.entry.envelope
                items.append(
                    QueuedItem(
                        id: envelope.id, key: key, receivedAtMicros: envelope.receivedAtMicros,
                        sender: envelope.sender(of: live.recipients.first ?? 0),
                        recipients: live.recipients.map { envelope.recipients[$0].address }, nextAttemptMicros: next))
            }
            for queue in queues.values { for work in queue.ready { add(work, key: queue.key, next: nil) } }
            for item in delayed.unordered { add(item.work, key: item.key, next: item.dueMicros) }
            return items.sorted { $0.receivedAtMicros < $1.receivedAtMicros }
        }
    }

    /// Every queue of `domain`.
    public func report(domain: String) -> [DomainReport] {
        lock.withLock {
            queues.values.filter { $0.key.domain == domain }.map { queue in
                var oldest: Int64?
                var next: Int64?
                for work in queue.ready { oldest = min(oldest ?? .max, work.message.entry.envelope.receivedAtMicros) }
                for item in delayed.unordered where item.key == queue.key {
                    oldest = min(oldest ?? .max, item.work.message.entry.envelope.receivedAtMicros)
                    next = min(next ?? .max, item.dueMicros)
                }
                return DomainReport(
                    key: queue.key, active: queue.ready.count, delayed: queue.delayed, connections: queue.connections,
                    delivered: queue.delivered, failed: queue.failed, oldestMicros: oldest, nextAttemptMicros: next,
                    lastError: queue.lastError, lastErrorAt: queue.lastErrorAt, suspended: isSuspended(queue))
            }.sorted { $0.key.description < $1.key.description }
        }
    }

    /// Totals for `summary`: active and delayed work, open outbound connections.
    public func totals() -> (active: Int, delayed: Int, connections: Int, messages: Int) {
        lock.withLock {
            (queues.values.reduce(0) { $0 + $1.ready.count }, delayed.count, connectionsTotal, messages.count)
        }
    }
}
