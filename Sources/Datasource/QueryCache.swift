import DequeModule

/// A datasource's cache of query results (Momentum's ds_core cache): at most `capacity` results
/// and `DatasourceLimits.maxCacheOctets`, each kept `lifetime` seconds; when full, the oldest
/// entry leaves first. Not thread-safe: the datasource holds it under its lock.
struct QueryCache {
    private struct Entry {
        var result: QueryResult
        var expires: Double
        var octets: Int
        var generation: Int
    }

    let capacity: Int
    let lifetime: Double
    private var entries: [String: Entry] = [:]
    private var order: Deque<(key: String, generation: Int)> = []
    private var generation = 0
    private(set) var octets = 0

    init(capacity: Int, lifetime: Int) {
        self.capacity = capacity
        self.lifetime = Double(lifetime)
    }

    var count: Int { entries.count }

    /// The key of a statement with its parameters.
    /// Every piece is length-prefixed, so no two different requests share a key whatever their
    /// values hold.
    static func key(_ statement: SQLStatement, _ parameters: SQLStatement.Parameters) -> String {
        func piece(_ text: String?) -> String { text.map { "\($0.utf8.count):\($0)" } ?? "-" }
        var key = piece(statement.text)
        switch parameters {
        case .positional(let values):
            key += "p"
            for value in values { key += piece(value) }
        case .named(let map):
            key += "n"
            for (name, value) in map.sorted(by: { $0.key < $1.key }) { key += piece(name) + piece(value) }
        }
        return key
    }

    /// The cached result for `key`, unless it has expired.
    mutating func result(for key: String, now: Double) -> QueryResult? {
        guard let entry = entries[key] else { return nil }
        guard entry.expires > now else {
            remove(key)
            return nil
        }
        return entry.result
    }

    mutating func store(_ result: QueryResult, for key: String, now: Double) {
        guard capacity > 0, lifetime > 0 else { return }
        let size = result.octets + key.utf8.count
        guard size <= DatasourceLimits.maxCacheOctets / 16 else { return }
        remove(key)
        generation += 1
        entries[key] = Entry(result: result, expires: now + lifetime, octets: size, generation: generation)
        order.append((key, generation))
        octets += size
        while entries.count > capacity || octets > DatasourceLimits.maxCacheOctets, let oldest = order.popFirst() {
            if entries[oldest.key]?.generation == oldest.generation { remove(oldest.key) }
        }
        // Keys replaced or expired leave stale places behind; drop them when they outnumber the rest.
        if order.count > 2 * max(entries.count, 16) {
            order = Deque(order.filter { entries[$0.key]?.generation == $0.generation })
        }
    }

    mutating func removeAll() {
        entries.removeAll()
        order.removeAll()
        octets = 0
    }

    private mutating func remove(_ key: String) {
        if let entry = entries.removeValue(forKey: key) { octets -= entry.octets }
    }
}
