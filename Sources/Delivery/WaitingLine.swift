import DequeModule

/// Queues waiting for something they share (a connection slot, a throttle's permit), first
/// come first served, each queue once. Leaving is O(1): a queue that left keeps its place in the
/// order until that place is reached, and is skipped then — tens of thousands of queues may
/// wait. Mutated only under the queue manager's lock.
struct WaitingLine {
    private var order = Deque<QueueKey>()
    private var members: Set<QueueKey> = []

    var isEmpty: Bool { members.isEmpty }
    /// Queues in line.
    var count: Int { members.count }

    /// Joins at the back (a queue already in line keeps its place).
    mutating func join(_ key: QueueKey) {
        guard members.insert(key).inserted else { return }
        order.append(key)
        // Places of queues that left are dropped once they outnumber the line.
        if order.count > 2 * members.count + 1024 {
            var seen: Set<QueueKey> = []
            order = Deque(order.filter { members.contains($0) && seen.insert($0).inserted })
        }
    }

    mutating func leave(_ key: QueueKey) { members.remove(key) }

    /// The first queue in line, out of it.
    mutating func next() -> QueueKey? {
        while let key = order.popFirst() {
            if members.remove(key) != nil { return key }
        }
        return nil
    }

    /// The first `limit` queues in line, staying there.
    func first(_ limit: Int) -> [QueueKey] {
        var found: [QueueKey] = []
        for key in order where members.contains(key) {
            found.append(key)
            if found.count == limit { break }
        }
        return found
    }
}
