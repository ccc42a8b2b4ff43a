import ImpulseConfig
import SharedThrottles

/// Cluster-wide throttles (docs/delivery.md, Cluster-wide throttles): a queue under one waits for
/// a permit from the throttle store; the request runs off the lock and its answer pumps the
/// queues that wait. While the store is unreachable each node applies the rate locally.
extension QueueManager {
    /// µs until the cluster throttle lets one more event go for `queue` (0: a permit is here),
    /// asking the store for one when none is (caller holds the lock).
    func clusterWait(_ throttle: ClusterThrottle?, queue: DomainQueue, now: Int64) -> Int64 {
        guard let throttle, let store = clusterStore else { return 0 }
        if store.isDown {
            // Asking again (at most once a second) is how the store's return is noticed.
            if !throttle.requesting && store.mayTryAgain { requestPermit(throttle, from: store) }
            return throttle.local.wait(now: now)
        }
        if throttle.permits > 0 { return 0 }
        throttle.waiting.insert(queue.key)
        if !throttle.requesting && now >= throttle.retryAt { requestPermit(throttle, from: store) }
        // While a request is out its answer pumps the queue: the wake-up is only a safety net.
        return throttle.requesting ? 100_000 : throttle.retryAt - now
    }

    /// Uses one permit (or the local throttle while the store is down).
    func takeCluster(_ throttle: ClusterThrottle?, now: Int64) {
        guard let throttle, let store = clusterStore else { return }
        throttle.taken += 1
        if store.isDown || throttle.permits == 0 {
            throttle.local.take(now: now)
        } else {
            throttle.permits -= 1
        }
    }

    /// Asks the store for one permit (caller holds the lock; the call runs on the blocking pool).
    func requestPermit(_ throttle: ClusterThrottle, from store: RedisThrottleStore) {
        throttle.requesting = true
        let key = throttle.key
        let interval = throttle.rate.intervalMicros
        let tolerance = Int64(throttle.rate.burst - 1) * interval
        blockingWork.runIfActive(eventLoop: group.next()) {
            store.acquire(key: key, intervalMicros: interval, toleranceMicros: tolerance)
        }.whenComplete { [weak self] result in
            self?.permitAnswered(throttle, (try? result.get()) ?? .unavailable)
        }
    }

    func permitAnswered(_ throttle: ClusterThrottle, _ answer: RedisThrottleStore.Answer) {
        var starts: [Start] = []
        lock.withLock {
            throttle.requesting = false
            switch answer {
            case .granted: throttle.permits += 1
            case .wait(let micros): throttle.retryAt = Throttle.now + micros
            case .unavailable: break
            }
            let waiting = throttle.waiting
            throttle.waiting = []
            for key in waiting {
                if let queue = queues[key] { starts += pump(queue) }
            }
        }
        run(starts)
    }

    /// The cluster throttle a scope defines (made on first use; caller holds the lock).
    func clusterThrottle(_ defined: ScopedRate?, kind: String) -> ClusterThrottle? {
        guard let defined, clusterStore != nil else { return nil }
        let key = "\(kind)\u{0}\(defined.scope)\u{0}\(defined.rate)"
        if let existing = clusterThrottles[key] { return existing }
        let made = ClusterThrottle(defined, kind: kind)
        clusterThrottles[key] = made
        return made
    }

    /// The cluster throttles, for `throttle list`.
    func clusterThrottleReports(now: Int64) -> [ThrottleReport] {
        let local = clusterStore?.isDown == true
        return clusterThrottles.values.map { throttle in
            ThrottleReport(
                owner: "cluster \(throttle.scope)\(local ? " (local: the store is unreachable)" : "")",
                kind: throttle.kind, rate: throttle.rate, taken: throttle.taken, holds: 0,
                waitMicros: local ? throttle.local.wait(now: now) : max(0, throttle.retryAt - now))
        }
    }
}
