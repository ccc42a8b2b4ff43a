import ImpulseConfig

/// One `msys.audit_series` (Momentum's audit series): counts per key over `windows` time windows
/// of `interval` seconds each, window 0 being the current one. Keys are client addresses (a
/// `cidr` or `cidr_ipv6` series) or strings (a `string` series). At most
/// `PolicyLimits.maxAuditSeriesKeys` keys: past that, those counted longest ago go first.
struct AuditSeries {
    enum Kind: String {
        case cidr, cidrIPv6 = "cidr_ipv6", string
    }

    struct Item {
        var address: IPAddress?
        /// Counts by window number since the epoch (time / interval).
        var buckets: [Int: Int] = [:]
        var newest = 0
    }

    let kind: Kind
    var interval: Int
    var windows: Int
    private(set) var items: [String: Item] = [:]

    init(kind: Kind, interval: Int, windows: Int) {
        self.kind = kind
        self.interval = max(1, interval)
        self.windows = max(1, windows)
    }

    private func window(_ now: Double) -> Int { Int(now) / interval }

    /// Adds `count` to `key`'s current window.
    mutating func add(_ key: String, address: IPAddress?, count: Int, now: Double) {
        let current = window(now)
        var item = items[key] ?? Item(address: address)
        item.buckets[current, default: 0] += count
        item.newest = current
        // Windows older than the series keeps go.
        if item.buckets.count > windows {
            item.buckets = item.buckets.filter { $0.key > current - windows }
        }
        items[key] = item
        if items.count > PolicyLimits.maxAuditSeriesKeys { evict(now: now) }
    }

    /// The sum over windows `start`…`end` (0 the current one) of `key`, or of every address in
    /// `block` for an address series.
    func count(key: String?, block: CIDRBlock?, start: Int, end: Int, now: Double) -> Int {
        let current = window(now)
        let first = current - max(start, end)
        let last = current - min(start, end)
        func total(_ item: Item) -> Int {
            item.buckets.reduce(0) { sum, bucket in (first...last).contains(bucket.key) ? sum + bucket.value : sum }
        }
        if let block {
            return items.values.reduce(0) { sum, item in
                guard let address = item.address, block.contains(address) else { return sum }
                return sum + total(item)
            }
        }
        return key.flatMap { items[$0] }.map(total) ?? 0
    }

    mutating func remove(_ key: String) { items[key] = nil }

    /// Makes room for a tenth more keys: first those with nothing left in the series' windows,
    /// then those counted longest ago.
    private mutating func evict(now: Double) {
        let current = window(now)
        items = items.filter { $0.value.newest > current - windows }
        let target = PolicyLimits.maxAuditSeriesKeys - PolicyLimits.maxAuditSeriesKeys / 10
        if items.count > target {
            for (key, _) in items.sorted(by: { $0.value.newest < $1.value.newest }).prefix(items.count - target) {
                items[key] = nil
            }
        }
    }
}
