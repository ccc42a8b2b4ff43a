import DequeModule
import Dispatch
import NIOConcurrencyHelpers

/// The server's one cache of DNS answers, shared by every session, script and delivery: positive
/// answers for their TTL, NXDOMAIN and NODATA for their negative TTL (RFC 2308), each capped by
/// `DNSLimits`; at most `DNSLimits.maxCacheEntries` answers, the oldest evicted first. Server
/// failures and timeouts are not cached.
final class DNSCache: Sendable {
    struct Key: Hashable, Sendable {
        var name: String
        var type: DNSRecordType
    }

    private struct Entry {
        var answer: Result<[DNSRecord], DNSLookupError>
        var expires: UInt64
        var serial: UInt64
    }

    private struct Storage {
        var entries: [Key: Entry] = [:]
        /// Insertion order for eviction; an element whose serial no longer matches its entry is
        /// stale (the key was stored again since).
        var order: Deque<(Key, UInt64)> = []
        var serial: UInt64 = 0
    }

    private let storage = NIOLockedValueBox(Storage())
    private let capacity: Int

    init(capacity: Int = DNSLimits.maxCacheEntries) { self.capacity = capacity }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The cached answer for `key`, if it has not expired.
    func answer(for key: Key, at now: UInt64 = DNSCache.now()) -> Result<[DNSRecord], DNSLookupError>? {
        storage.withLockedValue { storage in
            guard let entry = storage.entries[key], entry.expires > now else { return nil }
            return entry.answer
        }
    }

    /// Keeps `answer` for `seconds` (nothing for zero).
    func store(
        _ answer: Result<[DNSRecord], DNSLookupError>, for key: Key, seconds: UInt32, at now: UInt64 = DNSCache.now()
    ) {
        guard seconds > 0 else { return }
        storage.withLockedValue { storage in
            storage.serial += 1
            let expires = now + UInt64(seconds) * 1_000_000_000
            storage.entries[key] = Entry(answer: answer, expires: expires, serial: storage.serial)
            storage.order.append((key, storage.serial))
            while storage.entries.count > capacity || storage.order.count > 2 * capacity + 16 {
                guard let (oldest, serial) = storage.order.popFirst() else { break }
                if storage.entries[oldest]?.serial == serial { storage.entries[oldest] = nil }
            }
        }
    }

    var count: Int { storage.withLockedValue { $0.entries.count } }
}
