import Foundation
import ImpulseConfig
import Synchronization

/// What every Lua state of the process shares: Momentum keeps these process-wide, while Impulse
/// has one Lua state per event loop, so they live here, behind a lock, not in any state.
/// `msys.gauge_cache`, `msys.counter`, `msys.cidr` tables, `msys.audit_series` and the rates of
/// `msys.shared_throttle`'s throttles (their clocks are the effect executor's).
public final class SharedPolicyData: Sendable {
    struct Gauge {
        var maxItems: Int
        var ttl: Double
        var items: [String: (value: Int, expires: Double)] = [:]
    }

    /// One `msys.cidr` table: blocks with their values, longest prefix wins. Looked up by prefix
    /// length, longest first, each length a dictionary of masked networks: at most 129 probes
    /// per query however many blocks the table has.
    struct CIDRTable {
        var byPrefix: [(length: Int, values: [[UInt8]: String])] = []
        var defaultValue: String?
        var source: String?
        /// `interpolate`: a `$` in a value stands for the address asked about.
        var interpolate = false
        /// `record_type = "A"`: `:A:TXT` values give their A part.
        var recordTypeA = false
    }

    private struct State {
        var gauges: [String: Gauge] = [:]
        var counters: [String: Int64] = [:]
        var cidrTables: [String: CIDRTable] = [:]
        var auditSeries: [String: AuditSeries] = [:]
        /// Named throttles' rates, and when each was last used (a sequence number).
        var throttleRates: [String: (rate: ThrottleRate, used: Int)] = [:]
        var throttleUses = 0
    }

    private let state = Mutex(State())
    /// `siv_throttle_cache_size`: at most this many named throttles.
    let namedThrottleCapacity: Int

    public init(namedThrottleCapacity: Int = 1000) {
        self.namedThrottleCapacity = max(1, namedThrottleCapacity)
    }

    // MARK: gauge_cache

    /// `msys.gauge_cache.define(name, maxelems, ttl)`; redefining keeps the items.
    func defineGauge(_ name: String, maxItems: Int, ttl: Double) {
        state.withLock { state in
            if state.gauges[name] == nil {
                state.gauges[name] = Gauge(maxItems: max(1, maxItems), ttl: max(0, ttl))
            } else {
                state.gauges[name]?.maxItems = max(1, maxItems)
                state.gauges[name]?.ttl = max(0, ttl)
            }
        }
    }

    /// Adds `delta` to `key` of gauge `name`; the new value, or nil when there is no such gauge.
    /// An item's time to live starts again with each change; when full, expired items and then
    /// those closest to expiry go (a tenth of the cache at a time).
    func adjustGauge(_ name: String, key: String, by delta: Int, now: Double = Date().timeIntervalSince1970) -> Int? {
        state.withLock { state in
            guard var gauge = state.gauges[name] else { return nil }
            let current = gauge.items[key].flatMap { gauge.ttl == 0 || $0.expires > now ? $0.value : nil } ?? 0
            let value = max(0, current + delta)
            gauge.items[key] = (value, now + gauge.ttl)
            if gauge.items.count > gauge.maxItems {
                // Keys are often client addresses (a peer chooses how many): make room for a tenth
                // more at once, so a full cache does not scan every item on every new key.
                let target = max(1, gauge.maxItems - max(1, gauge.maxItems / 10))
                if gauge.ttl > 0 { gauge.items = gauge.items.filter { $0.value.expires > now } }
                if gauge.items.count > target {
                    let oldest = gauge.items.sorted { $0.value.expires < $1.value.expires }.prefix(
                        gauge.items.count - target)
                    for (key, _) in oldest { gauge.items[key] = nil }
                }
            }
            state.gauges[name] = gauge
            return value
        }
    }

    func gaugeValue(_ name: String, key: String, now: Double = Date().timeIntervalSince1970) -> Int? {
        state.withLock { state in
            guard let gauge = state.gauges[name], let item = gauge.items[key] else { return nil }
            return gauge.ttl == 0 || item.expires > now ? item.value : nil
        }
    }

    func removeGaugeItem(_ name: String, key: String) {
        state.withLock { _ = $0.gauges[name]?.items.removeValue(forKey: key) }
    }

    func gaugeExists(_ name: String) -> Bool { state.withLock { $0.gauges[name] != nil } }

    // MARK: counter

    /// `msys.counter`: adds `delta` (0 reads) and returns the value; `reset` sets it to 0 first.
    func counter(_ path: String, add delta: Int64, reset: Bool = false, remove: Bool = false) -> Int64 {
        state.withLock { state in
            if remove {
                state.counters[path] = nil
                return 0
            }
            if reset { state.counters[path] = 0 }
            let value = state.counters[path, default: 0] &+ delta
            state.counters[path] = value
            return value
        }
    }

    // MARK: cidr

    /// Replaces table `name`.
    func defineCIDR(
        _ name: String, entries: [(CIDRBlock, String)], defaultValue: String?, source: String?,
        interpolate: Bool = false,
        recordTypeA: Bool = false
    ) {
        var lengths: [Int: [[UInt8]: String]] = [:]
        for (block, value) in entries {
            lengths[block.prefixLength, default: [:]][Self.masked(block.network.octets, block.prefixLength)] = value
        }
        let byPrefix = lengths.sorted { $0.key > $1.key }.map { (length: $0.key, values: $0.value) }
        state.withLock {
            $0.cidrTables[name] = CIDRTable(
                byPrefix: byPrefix, defaultValue: defaultValue, source: source, interpolate: interpolate,
                recordTypeA: recordTypeA)
        }
    }

    func cidrSource(_ name: String) -> (source: String?, defaultValue: String?, interpolate: Bool, recordTypeA: Bool)? {
        state.withLock { state in
            state.cidrTables[name].map { ($0.source, $0.defaultValue, $0.interpolate, $0.recordTypeA) }
        }
    }

    /// The value of the most specific block holding `address`; the default value when none does;
    /// nil when there is no such table.
    func queryCIDR(_ name: String, address: IPAddress) -> String?? {
        state.withLock { state in
            guard let table = state.cidrTables[name] else { return nil }
            let best = table.byPrefix.lazy.compactMap { $0.values[Self.masked(address.octets, $0.length)] }.first
            let value = best ?? table.defaultValue
            guard table.interpolate, let value else { return .some(value) }
            return .some(value.replacingOccurrences(of: "$", with: address.description))
        }
    }

    // MARK: shared_throttle

    /// `msys.shared_throttle.create`: names a throttle and its rate (a new rate for a name
    /// replaces the old). Past `namedThrottleCapacity` the throttle used longest ago is forgotten.
    func defineThrottle(_ name: String, rate: ThrottleRate) {
        state.withLock { state in
            state.throttleUses += 1
            if state.throttleRates[name] == nil, state.throttleRates.count >= namedThrottleCapacity,
                let oldest = state.throttleRates.min(by: { $0.value.used < $1.value.used })?.key
            {
                state.throttleRates[oldest] = nil
            }
            state.throttleRates[name] = (rate, state.throttleUses)
        }
    }

    /// The rate of named throttle `name` (nil: not created, or forgotten), marking it used.
    func throttleRate(_ name: String) -> ThrottleRate? {
        state.withLock { state in
            guard let entry = state.throttleRates[name] else { return nil }
            state.throttleUses += 1
            state.throttleRates[name]?.used = state.throttleUses
            return entry.rate
        }
    }

    // MARK: audit_series

    /// `msys.audit_series.define`: a new series, or new windows for one of the same kind (its
    /// counts kept); false when `name` is a series of another kind.
    func defineAuditSeries(_ name: String, kind: AuditSeries.Kind, interval: Int, windows: Int) -> Bool {
        state.withLock { state in
            if let existing = state.auditSeries[name] {
                guard existing.kind == kind else { return false }
                state.auditSeries[name]?.interval = max(1, interval)
                state.auditSeries[name]?.windows = max(1, windows)
                return true
            }
            state.auditSeries[name] = AuditSeries(kind: kind, interval: interval, windows: windows)
            return true
        }
    }

    func auditSeriesKind(_ name: String) -> AuditSeries.Kind? { state.withLock { $0.auditSeries[name]?.kind } }

    func addToAuditSeries(
        _ name: String, key: String, address: IPAddress?, count: Int, now: Double = Date().timeIntervalSince1970
    ) {
        state.withLock { $0.auditSeries[name]?.add(key, address: address, count: count, now: now) }
    }

    func countAuditSeries(
        _ name: String, key: String?, block: CIDRBlock?, start: Int, end: Int,
        now: Double = Date().timeIntervalSince1970
    ) -> Int {
        state.withLock { $0.auditSeries[name]?.count(key: key, block: block, start: start, end: end, now: now) ?? 0 }
    }

    func removeFromAuditSeries(_ name: String, key: String) {
        state.withLock { $0.auditSeries[name]?.remove(key) }
    }

    /// `octets` with every bit past the first `length` cleared.
    static func masked(_ octets: [UInt8], _ length: Int) -> [UInt8] {
        var result = octets
        for index in result.indices {
            let keep = length - index * 8
            if keep >= 8 { continue }
            result[index] = keep <= 0 ? 0 : result[index] & UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return result
    }
}
