import ImpulseConfig
import NIOCore
import SharedThrottles

/// Throttles and `host` scopes (docs/delivery.md, Throttles and host scopes): work a throttle
/// holds stays in its queue's ready list — it is not an attempt, nothing is journaled — and the
/// queue is pumped again when the throttle's next permit is due.
extension QueueManager {
    /// µs until the queue may send one more message under its own and its host's message
    /// throttle (caller holds the lock).
    func messageWait(_ queue: DomainQueue, now: Int64) -> Int64 {
        let local = max(
            queue.messageThrottle?.throttle.wait(now: now) ?? 0,
            queue.host?.messageThrottle?.throttle.wait(now: now) ?? 0,
            queue.adaptiveThrottle?.wait(now: now) ?? 0)
        // The cluster's permit is asked for only when the local limits let the message go.
        if local > 0 || queue.clusterMessageThrottle == nil { return local }
        return clusterWait(queue.clusterMessageThrottle, queue: queue, now: now)
    }

    /// µs until the queue may open one more connection (caller holds the lock).
    func connectionWait(_ queue: DomainQueue, now: Int64) -> Int64 {
        let local = max(
            queue.connectionThrottle?.throttle.wait(now: now) ?? 0,
            queue.host?.connectionThrottle?.throttle.wait(now: now) ?? 0)
        if local > 0 || queue.clusterConnectionThrottle == nil { return local }
        return clusterWait(queue.clusterConnectionThrottle, queue: queue, now: now)
    }

    /// The shared throttle a scope defines (made on first use; caller holds the lock).
    func sharedThrottle(_ defined: ScopedRate?, kind: String) -> SharedThrottle? {
        guard let defined else { return nil }
        let key = "\(kind)\u{0}\(defined.scope)\u{0}\(defined.rate)"
        if let existing = sharedThrottles[key] { return existing }
        let made = SharedThrottle(defined, kind: kind)
        sharedThrottles[key] = made
        return made
    }

    /// The queue's first work that can go now: work whose recipients were all settled meanwhile
    /// is dropped on the way; nil when there is none, or when a message throttle holds the
    /// queue (it is then woken at the next permit). The work stays first in line for the caller
    /// to take. Caller holds the lock.
    func sendableHead(_ queue: DomainQueue, now: Int64) -> DeliveryWork? {
        while let head = queue.ready.first {
            guard let work = head.message.live(head) else {
                queue.ready.removeFirst()
                continue
            }
            let wait = messageWait(queue, now: now)
            if wait > 0 {
                hold(queue, wait: wait, now: now, messages: true)
                return nil
            }
            return work
        }
        return nil
    }

    /// Counts one message against the queue's and its host's throttles.
    func takeMessage(_ queue: DomainQueue, now: Int64) {
        if now - queue.windowStart >= 60_000_000 {
            queue.sentLastWindow = now - queue.windowStart < 120_000_000 ? queue.sentThisWindow : 0
            queue.sentThisWindow = 0
            queue.windowStart = now
        }
        queue.sentThisWindow += 1
        queue.messageThrottle?.throttle.take(now: now)
        queue.host?.messageThrottle?.throttle.take(now: now)
        queue.adaptiveThrottle?.take(now: now)
        takeCluster(queue.clusterMessageThrottle, now: now)
    }

    /// Counts one connection against the queue's and its host's throttles and the host's cap.
    func takeConnection(_ queue: DomainQueue, now: Int64) {
        queue.connectionThrottle?.throttle.take(now: now)
        queue.host?.connectionThrottle?.throttle.take(now: now)
        takeCluster(queue.clusterConnectionThrottle, now: now)
        queue.host?.connections += 1
    }

    /// A throttle holds the queue for `wait` µs: it is pumped again then (one wake-up per queue,
    /// the earliest wins). Caller holds the lock.
    func hold(_ queue: DomainQueue, wait: Int64, now: Int64, messages: Bool) {
        let holding =
            messages
            ? [queue.messageThrottle, queue.host?.messageThrottle]
            : [queue.connectionThrottle, queue.host?.connectionThrottle]
        for shared in holding {
            if let shared, shared.throttle.wait(now: now) > 0 { shared.throttle.holds += 1 }
        }
        if messages, (queue.adaptiveThrottle?.wait(now: now) ?? 0) > 0 { queue.adaptiveThrottle?.holds += 1 }
        throttleHolds += 1
        // A throttle many queues share (a global or regex-domain one, a host scope's) keeps them
        // in line and wakes once per permit — not every queue at every permit.
        if let shared = holding.compactMap({ $0 }).first(where: { $0.throttle.wait(now: now) == wait }) {
            shared.waiting.join(queue.key)
            let at = now + wait
            if shared.wakeAt != 0 && shared.wakeAt <= at { return }
            shared.wakeAt = at
            group.next().scheduleTask(in: .microseconds(wait)) { [weak self] in self?.sharedThrottleWake(shared, at: at)
            }
            return
        }
        let at = now + wait
        if queue.wakeAt != 0 && queue.wakeAt <= at { return }
        queue.wakeAt = at
        let key = queue.key
        group.next().scheduleTask(in: .microseconds(wait)) { [weak self] in self?.throttleWake(key, at: at) }
    }

    /// A shared throttle's next permit is due: the queues in its line are pumped in turn until the
    /// permit is used; the rest wait for the next one.
    func sharedThrottleWake(_ shared: SharedThrottle, at: Int64) {
        var starts: [Start] = []
        lock.withLock {
            if shared.wakeAt == at { shared.wakeAt = 0 }
            var remaining = shared.waiting.count
            while remaining > 0, shared.throttle.wait(now: Throttle.now) == 0, let key = shared.waiting.next() {
                remaining -= 1
                if let queue = queues[key] { starts += pump(queue) }
            }
            let now = Throttle.now
            let wait = shared.throttle.wait(now: now)
            if !shared.waiting.isEmpty && shared.wakeAt == 0 {
                let next = max(wait, 1000)
                shared.wakeAt = now + next
                let due = shared.wakeAt
                group.next().scheduleTask(in: .microseconds(next)) { [weak self] in
                    self?.sharedThrottleWake(shared, at: due)
                }
            }
        }
        run(starts)
    }

    func throttleWake(_ key: QueueKey, at: Int64) {
        let starts: [Start] = lock.withLock {
            guard let queue = queues[key] else { return [] }
            if queue.wakeAt == at { queue.wakeAt = 0 }
            return pump(queue)
        }
        run(starts)
    }

    /// Whether `pump` must wait for the queue's `host` scope to be found; starts the look-up
    /// when it is due (caller holds the lock). A queue whose host is known keeps using it while
    /// a later look-up runs.
    func awaitingHost(_ queue: DomainQueue, now: Int64) -> Bool {
        guard hasHostScopes else { return false }
        switch queue.hostLookup {
        case .running: return queue.host == nil && !queue.hostLookupDoneOnce
        case .done(let at) where now - at < DeliveryLimits.hostLookupLifetime: return false
        case .notYet, .done:
            let first = !queue.hostLookupDoneOnce
            queue.hostLookup = .running
            let key = queue.key
            let options = queue.options
            let hops = self.hops
            blockingWork.runIfActive(eventLoop: group.next()) { hops.hostNames(for: key.domain, options: options) }
                .whenComplete { [weak self] result in
                    self?.hostFound(key, names: (try? result.get()) ?? [])
                }
            return first
        }
    }

    /// The next-hop names of a queue are known: the first (in preference order) that falls in a
    /// `host` scope gives the queue its host limits.
    func hostFound(_ key: QueueKey, names: [String]) {
        var starts: [Start] = []
        lock.withLock {
            guard let queue = queues[key] else { return }
            queue.hostNames = names
            var found: (scope: String, limits: HostLimits)?
            for name in names {
                found = settings.outbound.hostScope(binding: key.binding, group: key.group, host: name)
                if found != nil { break }
            }
            let limiterKey = found.map { "\(key.binding) \($0.scope)" }
            if queue.host?.key != limiterKey {
                if let old = queue.host { release(old) }
                queue.host = found.map { scope in
                    let limiter =
                        hostLimiters[limiterKey!]
                        ?? HostLimiter(
                            key: limiterKey!, limits: scope.limits,
                            messageThrottle: sharedThrottle(scope.limits.throttleMessages, kind: "messages"),
                            connectionThrottle: sharedThrottle(scope.limits.throttleConnections, kind: "connections"))
                    hostLimiters[limiter.key] = limiter
                    limiter.queues += 1
                    return limiter
                }
            }
            queue.hostLookup = .done(at: Throttle.now)
            queue.hostLookupDoneOnce = true
            starts = pump(queue)
        }
        run(starts)
    }

    /// A queue stops using `limiter` (caller holds the lock).
    func release(_ limiter: HostLimiter) {
        limiter.queues -= 1
        if limiter.queues <= 0 && limiter.connections <= 0 { hostLimiters[limiter.key] = nil }
    }

    /// One throttle's state, for the console's `throttle list` and `domain`.
    public struct ThrottleReport: Sendable {
        /// The scope that sets it (`global`, `domain example.com`, `host mx.example.com` …), or
        /// `adaptive <group>/<binding> <domain>` for a queue back-off throttled down.
        public var owner: String
        /// `messages` or `connections`.
        public var kind: String
        public var rate: ThrottleRate
        public var taken: Int
        public var holds: Int
        /// µs until the next permit (0: one is free now).
        public var waitMicros: Int64
    }

    /// Every throttle in use (console `throttle list`); `domain` limits it to those the
    /// domain's queues and their hosts use.
    public func throttles(domain: String? = nil) -> [ThrottleReport] {
        let now = Throttle.now
        return lock.withLock {
            var reports: [ThrottleReport] = []
            func add(_ owner: String, _ kind: String, _ throttle: Throttle) {
                reports.append(
                    ThrottleReport(
                        owner: owner, kind: kind, rate: throttle.rate, taken: throttle.taken, holds: throttle.holds,
                        waitMicros: throttle.wait(now: now)))
            }
            var shared: [ObjectIdentifier: SharedThrottle] = [:]
            if domain == nil {
                for throttle in sharedThrottles.values { shared[ObjectIdentifier(throttle)] = throttle }
            }
            for queue in queues.values where domain == nil || queue.key.domain == domain {
                for throttle in [
                    queue.messageThrottle, queue.connectionThrottle, queue.host?.messageThrottle,
                    queue.host?.connectionThrottle
                ] {
                    if let throttle { shared[ObjectIdentifier(throttle)] = throttle }
                }
                if let own = queue.adaptiveThrottle {
                    add("adaptive \(queue.key.group)/\(queue.key.binding) \(queue.key.domain)", "messages", own)
                }
            }
            for throttle in shared.values { add(throttle.scope, throttle.kind, throttle.throttle) }
            if domain == nil { reports += clusterThrottleReports(now: now) }
            return reports.sorted { ($0.owner, $0.kind) < ($1.owner, $1.kind) }
        }
    }

    /// The `host` scope a queue's limits are shared in, with its open connections and cap.
    public func hostScope(of key: QueueKey) -> (scope: String, connections: Int, cap: Int?)? {
        lock.withLock {
            queues[key]?.host.map { ($0.key, $0.connections, $0.limits.maxOutboundConnections) }
        }
    }
}
