import SharedThrottles

/// Connection slots shared between queues (the server's and a binding's connection caps, a host
/// scope's cap): a queue that could not open a connection for lack of one waits in line, and a
/// connection that closes gives its slot to the first queue in line that can use it — without
/// looking at every queue (there may be tens of thousands). An idle connection holds a host
/// scope's slot for nothing while another domain behind the same host has work: it is closed
/// so that domain can connect.
extension QueueManager {
    /// Parks an idle connection (caller holds the lock).
    func parkIdle(_ connection: DeliveryConnection, in queue: DomainQueue) {
        queue.idle.append(connection)
        connection.host?.idle.append(connection)
    }

    /// An idle connection of the queue, no longer idle (caller holds the lock).
    func takeIdle(from queue: DomainQueue) -> DeliveryConnection? {
        guard let connection = queue.idle.popLast() else { return nil }
        connection.host?.idle.removeAll { $0 === connection }
        return connection
    }

    /// Forgets an idle connection; false when it was not idle (caller holds the lock).
    @discardableResult
    func forgetIdle(_ connection: DeliveryConnection, in queue: DomainQueue) -> Bool {
        connection.host?.idle.removeAll { $0 === connection }
        guard let index = queue.idle.firstIndex(where: { $0 === connection }) else { return false }
        queue.idle.remove(at: index)
        return true
    }

    /// `queue` could not open a connection for lack of a shared slot: it waits in line (once).
    /// When the slot it lacks is its host scope's and an idle connection of another domain holds
    /// one, that connection is taken to be closed (the caller closes it). Caller holds the lock.
    func waitForSlot(_ queue: DomainQueue) -> DeliveryConnection? {
        waitingForSlot.join(queue.key)
        guard let host = queue.host, !host.hasConnectionRoom,
            let victim = host.idle.first(where: { $0.key != queue.key }), let owner = queues[victim.key]
        else { return nil }
        forgetIdle(victim, in: owner)
        return victim
    }

    /// Momentum's `migrate_connections_between_sibling_domains`: a connection out of work takes
    /// the next message of a domain waiting for a slot when that domain goes to the same next hop
    /// — the same `host` scope, binding and options, and the host the connection reached is one
    /// of the domain's next hops — so mail to many small domains behind one provider does not
    /// pay a new connection each. Not for domains under MTA-STS, nor for a connection whose TLS
    /// a policy's hook chose (TLS is then decided per domain). Looks at most at the first 64 queues in line. Caller holds the lock.
    func migrate(_ connection: DeliveryConnection, from queue: DomainQueue, connectedTo host: String?) -> DeliveryWork?
    {
        guard let limiter = connection.host, let host, !waitingForSlot.isEmpty, !connection.askedTLSHook else {
            return nil
        }
        let now = Throttle.now
        for key in waitingForSlot.first(64) {
            guard let sibling = queues[key], sibling !== queue, sibling.host === limiter,
                key.binding == queue.key.binding, sibling.options == queue.options, !sibling.options.useMTASTS,
                sibling.options.gateway != nil || sibling.hostNames.contains(host.lowercased()),
                sibling.connections
                    < effectiveMaxConnections(key: key, configured: sibling.options.maxOutboundConnections),
                !isSuspended(sibling), !isHeldByBackoff(key), let work = sendableHead(sibling, now: now)
            else { continue }
            sibling.ready.removeFirst()
            takeMessage(sibling, now: now)
            queue.connections -= 1
            sibling.connections += 1
            connection.key = key
            if sibling.ready.isEmpty { waitingForSlot.leave(key) }
            return work
        }
        return nil
    }

    /// Whether queues wait for a slot this connection holds: its host scope's cap, the server's or
    /// its binding's is reached (caller holds the lock).
    func slotWanted(by connection: DeliveryConnection) -> Bool {
        guard !waitingForSlot.isEmpty else { return false }
        if let host = connection.host, !host.hasConnectionRoom { return true }
        let binding = connection.key.binding
        let bindingLimit =
            settings.outbound.serverMaxOutboundConnections(binding: binding, group: connection.key.group) ?? Int.max
        return connectionsTotal >= settings.outbound.globalMaxOutboundConnections
            || connectionsByBinding[binding, default: 0] >= bindingLimit
    }

    /// A slot is free: the queues in line are pumped in turn until one opens a connection (the
    /// others stay in line unless they no longer need a slot). Caller holds the lock.
    func offerSlot() -> [Start] {
        var starts: [Start] = []
        var remaining = waitingForSlot.count
        while remaining > 0, let key = waitingForSlot.next() {
            remaining -= 1
            guard let queue = queues[key], !queue.ready.isEmpty else { continue }
            let made = pump(queue)
            starts += made
            if made.contains(where: { if case .open = $0 { return true } else { return false } }) { break }
        }
        return starts
    }
}
