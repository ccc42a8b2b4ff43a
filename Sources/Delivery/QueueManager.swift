import Foundation
import HeapModule
import ImpulseConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import OutboundSMTP
import Resolver
import SharedThrottles
import Spool

/// Outbound delivery: every spooled message with recipients to settle is queued per binding
/// and routing domain, delivered over pooled connections within the connection limits,
/// retried with back-off on temporary failures, bounced (RFC 3464) on permanent ones, and
/// removed from the spool once every recipient is settled. Per-recipient outcomes go to the
/// delivery journal (DeliveryJournal), so a restart resumes where it stopped.
///
/// All queue state is guarded by one lock; connections run on the event loops and call back
/// here with their outcomes. Journal, log and hook work happens outside the lock.
public final class QueueManager: @unchecked Sendable {
    public struct Settings: Sendable {
        public var hostname: String
        public var outbound: OutboundConfiguration
        public var bindings: [BindingDefinition]
        /// Seconds `stop()` waits for connections that are delivering.
        public var shutdownTimeout: Int

        public init(
            hostname: String, outbound: OutboundConfiguration, bindings: [BindingDefinition], shutdownTimeout: Int = 30
        ) {
            self.hostname = hostname
            self.outbound = outbound
            self.bindings = bindings
            self.shutdownTimeout = shutdownTimeout
        }
    }

    /// One recipient's outcome, for hooks (core_log_*_v1) and metrics.
    public struct Event: Sendable {
        public enum Kind: Sendable { case delivered, transientFailure, permanentFailure }
        public var kind: Kind
        public var entry: SpoolDirectory.Entry
        public var recipientIndex: Int
        public var key: QueueKey
        /// The next hop's reply or Impulse's reason.
        public var note: String
        public var remoteAddress: String
        public var attempts: Int
        /// The mainlog/bouncelog failure line of this outcome, when `logsFailureAfterHook` said
        /// its hook may change the reason first: whoever gets the event writes it.
        public var failureLog: FailureLog?
    }

    /// A `T` or `P` line not yet written (DeliveryLog.failure's arguments).
    public struct FailureLog: Sendable {
        public var attempt: DeliveryLog.Attempt
        public var permanent: Bool
        public var stage: Int
        public var response: String
        public var recipient: String
        public var sender: String

        /// Writes the line to `log`, with `reason` (a delivery hook's msg:set_code) instead of
        /// the reply when given.
        public func write(to log: DeliveryLog, reason: String? = nil) {
            log.failure(
                attempt, permanent: permanent, stage: stage, response: reason ?? response, recipient: recipient,
                sender: sender)
        }
    }

    /// `core_get_outbound_tls_parameters`: asked before a connection starts, with the message it
    /// starts with (entry, recipient index), its queue and the configured `tls` (0, 1, 2); `done`
    /// gets what the policy chose, or nil to keep the configuration. Returns false, and never
    /// calls `done`, when the policy has no such hook. Set before `start`.
    public var outboundTLSHook:
        (
            @Sendable (
                SpoolDirectory.Entry, Int, QueueKey, Int, @escaping @Sendable (OutboundTLSParameters?) -> Void
            ) -> Bool
        )?

    /// `core_pre_mailq_message_requeue`: work whose retry time came goes back to its queue (the
    /// message, its first recipient of the work, the queue). Called outside the lock. Set before
    /// `start`.
    public var onRequeue: (@Sendable (SpoolDirectory.Entry, Int, QueueKey) -> Void)?

    /// Whether a failure of this kind waits for its delivery hook (core_log_*_failure_v1), whose
    /// msg:set_code becomes the logged reason, before it is logged. Set before `start`.
    public var logsFailureAfterHook: (@Sendable (Event.Kind) -> Bool)?

    /// Called (outside the lock) for every recipient outcome. Set before `start`.
    public var onEvent: (@Sendable (Event) -> Void)?

    let settings: Settings
    let group: EventLoopGroup
    let hops: NextHopResolver
    let blockingWork: NIOThreadPool
    let spoolWriter: SpoolWriter
    let journal: DeliveryJournal
    let log: DeliveryLog
    let logger: Logger
    let idGenerator: MessageIDGenerator

    let lock = NIOLock()
    var queues: [QueueKey: DomainQueue] = [:]
    var delayed = Heap<DelayedWork>()
    var sequence = 0
    var ticks = 0
    var connectionsTotal = 0
    var connectionsByBinding: [String: Int] = [:]
    /// Live messages per segment, and whether the writer closed the segment.
    var segments: [String: (live: Int, closed: Bool)] = [:]
    var messages: [String: QueuedMessage] = [:]
    var stopping = false
    var timer: RepeatedTask?
    var nextConnectionID = 1
    var groupRotation: [String: Int] = [:]
    /// How long a bounce whose spool write failed waits before it is tried again.
    var bounceRetryDelay: TimeAmount = .seconds(30)
    /// Domains an operator suspended from the console (`suspend domain`).
    var suspendedDomains: Set<String> = []
    /// Whether the configuration has `host` scopes (read once: `pump` asks for every message).
    let hasHostScopes: Bool
    /// The `host` scopes in use, by binding and scope (HostLimiter.key).
    var hostLimiters: [String: HostLimiter] = [:]
    /// Queues waiting for a shared connection slot, first come first served (QueueManager+Slots).
    var waitingForSlot = WaitingLine()
    /// The configured throttles, by kind, defining scope and rate (one per setting in use).
    var sharedThrottles: [String: SharedThrottle] = [:]
    /// MTA-STS policies (`use_mta_sts`); set before `start`.
    public var mtaSTS: MTASTSPolicies?
    /// The store cluster-wide throttles share (`cluster { throttle_store }`), and those throttles.
    let clusterStore: RedisThrottleStore?
    var clusterThrottles: [String: ClusterThrottle] = [:]
    /// Times a throttle held work since start (metrics).
    var throttleHolds = 0
    /// Response-driven back-off: the rules, and what they do to each queue now.
    public let adaptiveRules = AdaptiveRules()
    var adaptive: [QueueKey: AdaptiveState] = [:]
    /// Times a back-off rule fired since start.
    var adaptiveActions = 0

    public init(
        settings: Settings, group: EventLoopGroup, resolver: DNSResolver?, blockingWork: NIOThreadPool,
        spoolWriter: SpoolWriter, journal: DeliveryJournal, log: DeliveryLog, idGenerator: MessageIDGenerator,
        logger: Logger
    ) {
        self.settings = settings
        self.group = group
        self.hops = NextHopResolver(resolver: resolver)
        self.blockingWork = blockingWork
        self.spoolWriter = spoolWriter
        self.journal = journal
        self.log = log
        self.idGenerator = idGenerator
        self.logger = logger
        hasHostScopes = settings.outbound.hasHostScopes
        clusterStore = settings.outbound.clusterThrottleStore.map {
            RedisThrottleStore(host: $0.host, port: $0.port ?? 6379, logger: logger)
        }
    }

    /// Queues what the spool held at start-up (its segments are all closed) and starts the
    /// retry timer.
    public func start(recovered: [SpoolDirectory.Entry]) {
        lock.withLock {
            for entry in recovered { segments[entry.path, default: (0, true)].closed = true }
        }
        enqueue(recovered)
        let loop = group.next()
        timer = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) {
            [weak self] _ in
            self?.releaseDueWork()
        }
    }

    /// Messages the spool writer has just made durable.
    public func accepted(_ entries: [SpoolDirectory.Entry]) { enqueue(entries) }

    /// A `core_ec_message_enqueue` hook took recipient `index` of `entry` before it was queued
    /// (EC_MESSAGE_ENQUEUE_HOOK_OK, or _ERR when `failed`): it is settled (journaled), logged as
    /// delivered (`D`) or failed (`P`, with `reason`, no bounce), and not delivered by Impulse.
    /// Returns the entry to queue, with that recipient settled.
    public func takenByPolicy(
        _ entry: SpoolDirectory.Entry, index: Int, failed: Bool, reason: String
    ) -> SpoolDirectory.Entry {
        var entry = entry
        var state = entry.recipientStates[index] ?? DeliveryJournal.RecipientState()
        state.settled = true
        entry.recipientStates[index] = state
        journal.settled(segment: entry.path, id: entry.envelope.id, index: index)
        let envelope = entry.envelope
        let chosen = envelope.binding(of: index)
        let queueBinding = lock.withLock { self.binding(named: chosen.binding, group: chosen.group, id: envelope.id) }
        let domain = envelope.queueDomain(of: index)
        let attempt = DeliveryLog.Attempt(
            messageID: envelope.id, connectionID: 0, domain: domain, bindingGroup: queueBinding.group,
            binding: queueBinding.binding, bytes: entry.dataLength, retries: 0,
            receivedAtMicros: envelope.receivedAtMicros, remoteAddress: "")
        if failed {
            log.failure(
                attempt, permanent: true, stage: 21, response: reason, recipient: envelope.recipients[index].address,
                sender: envelope.sender(of: index))
        } else {
            log.delivery(attempt)
        }
        return entry
    }

    /// The spool writer closed `segment`: once its messages are settled it can go.
    public func segmentClosed(_ segment: String) {
        let remove = lock.withLock { () -> Bool in
            let live = segments[segment]?.live ?? 0
            if live == 0 {
                segments[segment] = nil
                return true
            }
            segments[segment]?.closed = true
            return false
        }
        if remove { journal.removeSegment(segment) }
    }

    /// The binding (and its group) a message leaves from: the one a policy chose, one of the
    /// chosen group's bindings in turn, or `default`.
    func binding(for envelope: SpoolEnvelope) -> (binding: String, group: String) {
        binding(named: envelope.binding, group: envelope.bindingGroup, id: envelope.id)
    }

    func binding(named name: String?, group groupName: String?, id: String) -> (binding: String, group: String) {
        if let name {
            if let definition = settings.bindings.first(where: { $0.name == name }) {
                return (name, definition.group ?? "default")
            }
            if name == "default" { return ("default", "default") }
            logger.warning(
                "delivery: message names an unknown binding; using default",
                metadata: ["id": "\(id)", "binding": "\(name)"])
        }
        if let groupName {
            let members = settings.bindings.filter { $0.group == groupName }
            if !members.isEmpty {
                let turn = groupRotation[groupName, default: 0]
                groupRotation[groupName] = turn &+ 1
                return (members[turn % members.count].name, groupName)
            }
        }
        return ("default", "default")
    }

    /// The queue for `key`, made with its options on first use (caller holds the lock).
    func queue(_ key: QueueKey) -> DomainQueue {
        if let existing = queues[key] { return existing }
        let queue = DomainQueue(
            key: key, options: settings.outbound.resolve(binding: key.binding, group: key.group, domain: key.domain))
        queue.messageThrottle = sharedThrottle(queue.options.throttleMessages, kind: "messages")
        queue.connectionThrottle = sharedThrottle(queue.options.throttleConnections, kind: "connections")
        queue.clusterMessageThrottle = clusterThrottle(queue.options.clusterThrottleMessages, kind: "messages")
        queue.clusterConnectionThrottle = clusterThrottle(queue.options.clusterThrottleConnections, kind: "connections")
        if let rate = adaptive[key]?.rate { queue.adaptiveThrottle = Throttle(rate) }
        queues[key] = queue
        return queue
    }

    func enqueue(_ entries: [SpoolDirectory.Entry]) {
        let nowMicros = Self.nowMicros()
        var starts: [Start] = []
        lock.withLock {
            for entry in entries {
                let message = QueuedMessage(entry: entry)
                guard message.unsettled > 0, messages[message.id] == nil else { continue }
                messages[message.id] = message
                segments[entry.path, default: (0, false)].live += 1
                let envelope = entry.envelope
                (message.binding, message.group) = binding(for: envelope)
                let overrides = envelope.hasRecipientOverrides
                if overrides {
                    for (index, recipient) in envelope.recipients.enumerated()
                    where recipient.binding != nil || recipient.bindingGroup != nil {
                        message.recipientBindings[index] = binding(
                            named: recipient.binding, group: recipient.bindingGroup, id: envelope.id)
                    }
                }
                // One transaction carries recipients of one queue and one sender (a recipient's
                // own VERP sender makes a transaction of its own).
                var batches: [Batch: [Int]] = [:]
                var order: [Batch] = []
                for index in envelope.recipients.indices where !message.states[index].settled {
                    let batch = Batch(
                        key: message.queueKey(of: index), sender: overrides ? envelope.sender(of: index) : "")
                    if batches[batch] == nil { order.append(batch) }
                    batches[batch, default: []].append(index)
                }
                for batch in order {
                    let queue = queue(batch.key)
                    let indices = batches[batch] ?? []
                    for start in stride(from: 0, to: indices.count, by: queue.options.maxRecipientsPerBatch) {
                        let chunk = Array(
                            indices[start..<min(indices.count, start + queue.options.maxRecipientsPerBatch)])
                        let due = chunk.map { message.states[$0].nextAttemptMicros }.max() ?? 0
                        let work = DeliveryWork(message: message, recipients: chunk)
                        if due > nowMicros {
                            postpone(work, to: queue, at: due)
                        } else if entry.envelope.priority > 0 {
                            queue.ready.prepend(work) // msg.priority = 1: dequeued first
                        } else {
                            queue.ready.append(work)
                        }
                    }
                    starts += pump(queue)
                }
            }
        }
        run(starts)
    }

    /// Recipients of one message that can share a transaction.
    struct Batch: Hashable {
        var key: QueueKey
        var sender: String
    }

    /// Puts work in the delayed set (caller holds the lock).
    func postpone(_ work: DeliveryWork, to queue: DomainQueue, at dueMicros: Int64) {
        sequence += 1
        queue.delayed += 1
        delayed.insert(DelayedWork(dueMicros: dueMicros, sequence: sequence, key: queue.key, work: work))
    }

    /// Moves work whose time has come back to its queue.
    func releaseDueWork() {
        let nowMicros = Self.nowMicros()
        var starts: [Start] = []
        var requeued: [(SpoolDirectory.Entry, Int, QueueKey)] = []
        var adaptiveLog: [AdaptiveLogLine] = []
        let watching = onRequeue != nil
        lock.withLock {
            guard !stopping else { return }
            var touched: [ObjectIdentifier: DomainQueue] = [:]
            if !adaptive.isEmpty {
                let expired = expireAdaptive(nowMicros: nowMicros)
                adaptiveLog = expired.log
                for queue in expired.queues { touched[ObjectIdentifier(queue)] = queue }
            }
            while let next = delayed.min, next.dueMicros <= nowMicros {
                _ = delayed.popMin()
                let queue = queue(next.key)
                queue.delayed -= 1
                if let work = next.work.message.live(next.work) {
                    if watching { requeued.append((work.message.entry, work.recipients[0], next.key)) }
                    if work.message.entry.envelope.priority > 0 {
                        queue.ready.prepend(work)
                    } else {
                        queue.ready.append(work)
                    }
                }
                touched[ObjectIdentifier(queue)] = queue
            }
            for queue in touched.values { starts += pump(queue) }
            ticks += 1
            if ticks % DeliveryLimits.idleQueueSweepTicks == 0 { removeIdleQueues(nowMicros: nowMicros) }
        }
        for line in adaptiveLog { log.adaptive(line) }
        if let onRequeue { for (entry, index, key) in requeued { onRequeue(entry, index, key) } }
        run(starts)
    }

    /// Forgets queues with no work, no delayed work and no connection (and not waiting out an
    /// unreachable next hop): mail to many domains once each — backscatter, a list's typos —
    /// must not grow the queue manager for ever. A queue is made again on its next message;
    /// its counters for the console start afresh. Caller holds the lock.
    func removeIdleQueues(nowMicros: Int64) {
        queues = queues.filter { _, queue in
            let idle =
                queue.ready.isEmpty && queue.delayed == 0 && queue.connections == 0
                && queue.unreachableUntil <= nowMicros
            if idle, let host = queue.host { release(host) }
            return !idle
        }
    }

    /// What `pump` decided: hand work to an idle connection, or open a new one.
    enum Start {
        case resume(DeliveryConnection, DeliveryWork)
        case open(DomainQueue, DeliveryWork, id: Int, host: HostLimiter?)
        /// Fail the work without a connection (a back-off rule blackholed its queue).
        case fail(DomainQueue, DeliveryWork, String)
        /// Close an idle connection whose slot another queue needs.
        case close(DeliveryConnection)
    }

    /// Gives the queue's ready work to idle connections, then opens connections up to the
    /// limits (caller holds the lock).
    func pump(_ queue: DomainQueue) -> [Start] {
        var starts: [Start] = []
        guard !stopping, !isSuspended(queue) else { return starts }
        if queue.unreachableUntil > 0 {
            if Self.nowMicros() < queue.unreachableUntil {
                // No attempt is made, so none is counted or journaled: after a restart it is tried at once.
                while let work = queue.ready.popFirst() { postpone(work, to: queue, at: queue.unreachableUntil) }
                return starts
            }
            queue.unreachableUntil = 0
        }
        if !adaptive.isEmpty, let held = adaptiveHold(queue) { return held }
        let now = Throttle.now
        if !queue.ready.isEmpty && awaitingHost(queue, now: now) { return starts }
        let maxConnections = effectiveMaxConnections(key: queue.key, configured: queue.options.maxOutboundConnections)
        while let work = sendableHead(queue, now: now) {
            if let idle = takeIdle(from: queue) {
                queue.ready.removeFirst()
                takeMessage(queue, now: now)
                starts.append(.resume(idle, work))
                continue
            }
            let binding = queue.key.binding
            let bindingLimit =
                settings.outbound.serverMaxOutboundConnections(binding: binding, group: queue.key.group) ?? Int.max
            guard queue.connections < maxConnections else { break }
            guard connectionsTotal < settings.outbound.globalMaxOutboundConnections,
                connectionsByBinding[binding, default: 0] < bindingLimit,
                queue.host?.hasConnectionRoom ?? true
            else {
                // A shared cap: wait in line for a slot (and free one an idle connection holds).
                if let victim = waitForSlot(queue) { starts.append(.close(victim)) }
                break
            }
            let connectionWait = connectionWait(queue, now: now)
            if connectionWait > 0 {
                hold(queue, wait: connectionWait, now: now, messages: false)
                break
            }
            takeConnection(queue, now: now)
            takeMessage(queue, now: now)
            queue.connections += 1
            connectionsTotal += 1
            connectionsByBinding[binding, default: 0] += 1
            nextConnectionID += 1
            queue.ready.removeFirst()
            starts.append(.open(queue, work, id: nextConnectionID, host: queue.host))
        }
        return starts
    }

    /// No delivery for this queue now: `suspend_delivery` or the console's `suspend domain`.
    func isSuspended(_ queue: DomainQueue) -> Bool {
        queue.options.suspendDelivery || suspendedDomains.contains(queue.key.domain)
    }

    /// Carries out `pump`'s decisions (outside the lock).
    func run(_ starts: [Start]) {
        // Idle connections are woken with one hop per event loop, not one per connection.
        var resumes: [ObjectIdentifier: (EventLoop, [(DeliveryConnection, DeliveryWork)])] = [:]
        for start in starts {
            switch start {
            case .resume(let connection, let work):
                resumes[ObjectIdentifier(connection.loop), default: (connection.loop, [])].1.append((connection, work))
            case .open(let queue, let work, let id, let host):
                let connection = DeliveryConnection(
                    manager: self, key: queue.key, options: queue.options, id: id, loop: group.next(), host: host)
                connection.start(work)
            case .close(let connection):
                connection.closeIdle()
            case .fail(let queue, let work, let reason):
                report(
                    key: queue.key, options: queue.options, connectionID: 0, work: work,
                    outcomes: work.recipients.map { _ in .permanent(reason) }, remoteAddress: "", remoteHost: nil,
                    stage: 0, bytes: 0)
            }
        }
        for (loop, batch) in resumes.values {
            let handOver = ResumeBatch(items: batch)
            loop.execute { for (connection, work) in handOver.items { connection.resumeOnLoop(work) } }
        }
    }

    /// Work for idle connections of one event loop, handed over in one hop (each connection is
    /// only touched on its loop).
    struct ResumeBatch: @unchecked Sendable {
        let items: [(DeliveryConnection, DeliveryWork)]
    }

    /// What a connection that finished a transaction does next.
    enum Next {
        case deliver(DeliveryWork)
        /// Parked as idle: `resumeOnLoop` or its idle timer comes next.
        case idle
        /// The server is stopping: quit.
        case quit
    }

    func next(for connection: DeliveryConnection, connectedTo host: String? = nil) -> Next {
        lock.withLock {
            guard !stopping, let queue = queues[connection.key] else { return .quit }
            let now = Throttle.now
            if !isSuspended(queue), !isHeldByBackoff(queue.key), let work = sendableHead(queue, now: now) {
                queue.ready.removeFirst()
                takeMessage(queue, now: now)
                return .deliver(work)
            }
            // Out of work while other queues wait for the slot it holds: it carries a sibling
            // domain's mail when one goes to the same next hop, else it closes and hands the
            // slot on, rather than idling on it.
            if let work = migrate(connection, from: queue, connectedTo: host) { return .deliver(work) }
            if slotWanted(by: connection) { return .quit }
            parkIdle(connection, in: queue)
            return .idle
        }
    }

    /// An idle connection's time is up: true when it was still idle (it closes); false when
    /// work was handed to it meanwhile.
    func unpark(_ connection: DeliveryConnection) -> Bool {
        lock.withLock {
            guard let queue = queues[connection.key] else { return false }
            return forgetIdle(connection, in: queue)
        }
    }

    /// A connection is gone: its slot may go to waiting work.
    func connectionClosed(_ connection: DeliveryConnection) {
        var starts: [Start] = []
        lock.withLock {
            guard let queue = queues[connection.key] else { return }
            forgetIdle(connection, in: queue)
            queue.connections -= 1
            if let host = connection.host {
                host.connections -= 1
                if host.queues <= 0 && host.connections <= 0 { hostLimiters[host.key] = nil }
            }
            connectionsTotal -= 1
            connectionsByBinding[connection.key.binding, default: 1] -= 1
            starts += pump(queue)
            if !starts.contains(where: { if case .open = $0 { return true } else { return false } }) {
                starts += offerSlot()
            }
        }
        run(starts)
    }

    /// No next hop could be reached for `work`: it fails temporarily, and so does the work
    /// waiting in the same queue when no other connection of the queue is up; until the queue's
    /// retry_interval has passed, new work for it waits in the delayed set without a connection
    /// attempt (as Momentum moves an unreachable domain to its delayed queue) — a dead next hop
    /// is not tried message by message.
    func unreachable(_ connection: DeliveryConnection, work: DeliveryWork, reason: String, permanent: Bool) {
        var failed = [work]
        lock.withLock {
            if let queue = queues[connection.key], queue.connections <= 1 {
                failed += queue.ready
                queue.ready.removeAll()
                if !permanent {
                    queue.unreachableUntil = Self.nowMicros() + Int64(queue.options.retryInterval) * 1_000_000
                }
            }
        }
        for item in failed {
            let outcome: SMTPClientStateMachine.RecipientOutcome = permanent ? .permanent(reason) : .transient(reason)
            report(
                connection, work: item, outcomes: item.recipients.map { _ in outcome }, remoteAddress: "",
                remoteHost: nil, stage: 0, bytes: 0)
        }
    }

    /// Stops opening connections, lets busy ones finish (at most shutdown_timeout), closes idle
    /// ones and flushes the journal.
    public func stop() {
        let idle: [DeliveryConnection] = lock.withLock {
            stopping = true
            return queues.values.flatMap { queue in
                defer {
                    queue.idle.removeAll()
                    queue.host?.idle.removeAll()
                }
                return queue.idle
            }
        }
        timer?.cancel()
        for connection in idle { connection.closeIdle() }
        let deadline = Date().addingTimeInterval(TimeInterval(settings.shutdownTimeout))
        while lock.withLock({ connectionsTotal }) > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// Queue sizes for the console and metrics: per queue, ready (active) and delayed work.
    public func summary() -> [(key: QueueKey, active: Int, delayed: Int, connections: Int)] {
        lock.withLock {
            queues.values.map { ($0.key, $0.ready.count, $0.delayed, $0.connections) }
                .filter { $0.active > 0 || $0.delayed > 0 || $0.connections > 0 }
        }
    }

    /// Messages with recipients still to settle.
    public var messageCount: Int { lock.withLock { messages.count } }

    /// A queued message: where it is in the spool, and each recipient's state (by index).
    public func queuedMessage(_ id: String) -> (entry: SpoolDirectory.Entry, states: [DeliveryJournal.RecipientState])?
    {
        lock.withLock { messages[id].map { ($0.entry, $0.states) } }
    }

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// The domain of an address (what follows its last `@`; empty without one).
    static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return String(address[address.index(after: at)...])
    }
}
