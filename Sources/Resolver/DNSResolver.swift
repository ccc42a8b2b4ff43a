import CUnbound
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The server's DNS: a stub resolver on libunbound's event interface
/// (<https://nlnetlabs.nl/documentation/unbound/libunbound/>, `ub_resolve_event`) running on one
/// resolver thread, in front of one answer cache shared by the whole server (`DNSCache`).
/// Questions go to the configured name servers (`ip` or `ip@port`) or those of a resolv.conf.
///
/// `lookup(_:type:completion:)` never blocks: a cached answer completes at once on the caller's
/// thread; any other question is handed to the resolver thread, which asks the name server (one
/// query for all who ask the same question meanwhile) and completes on that thread. Every
/// look-up ends within `DNSLimits.queryTimeout`; at most `DNSLimits.maxQueriesInFlight`
/// questions are outstanding. Why the event interface rather than `ub_resolve` or
/// `ub_resolve_async`: docs/dns.md.
public final class DNSResolver: Sendable {
    /// A look-up's answer, delivered once.
    public typealias Completion = @Sendable (Result<[DNSRecord], DNSLookupError>) -> Void

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Counters for the console, metrics and benchmarks.
    public struct Statistics: Sendable, Equatable {
        public var cacheHits = 0
        public var queries = 0
        public var coalesced = 0
        public var timeouts = 0
        public var refused = 0
    }

    let cache = DNSCache()
    let loop: ResolverLoop
    let counters = NIOLockedValueBox(Statistics())

    /// `timeout`: how long one look-up may take (tests shorten it). `trustAnchors` (DS or DNSKEY
    /// records in zone-file text) and `trustAnchorFile` (e.g. Debian's /usr/share/dns/root.key)
    /// turn DNSSEC validation on: answers are then marked secure, and bogus ones fail.
    public init(
        nameservers: [String], resolvConf: String?, timeout: Double = DNSLimits.queryTimeout,
        trustAnchors: [String] = [], trustAnchorFile: String? = nil
    ) throws {
        loop = try ResolverLoop(
            nameservers: nameservers, resolvConf: resolvConf, timeout: timeout, trustAnchors: trustAnchors,
            trustAnchorFile: trustAnchorFile)
        loop.start(cache: cache, counters: counters)
    }

    deinit { loop.stop() }

    /// Stops the resolver thread; look-ups still outstanding fail (SERVFAIL "resolver stopped").
    public func shutdown() { loop.stop() }

    public var statistics: Statistics { counters.withLockedValue { $0 } }

    /// Looks `name` up; `completion` runs once, on this thread for a cached answer, else on the
    /// resolver thread (keep it short: complete a promise, hop to an event loop). For PTR an IPv4
    /// or IPv6 address is turned into its reverse name.
    public func lookup(_ name: String, type: DNSRecordType, completion: @escaping Completion) {
        let key = Self.key(name, type: type)
        if let answer = cachedAnswer(for: key) {
            completion(answer)
            return
        }
        loop.submit(ResolverLoop.Question(key: key, completion: completion))
    }

    /// The answer to `name` if the cache has it (nil otherwise; nothing is asked): for callers
    /// that can use an answer at once without waiting, as a policy script's look-up can.
    public func cachedAnswer(_ name: String, type: DNSRecordType) -> Result<[DNSRecord], DNSLookupError>? {
        cachedAnswer(for: Self.key(name, type: type))
    }

    private func cachedAnswer(for key: DNSCache.Key) -> Result<[DNSRecord], DNSLookupError>? {
        guard let answer = cache.answer(for: key) else { return nil }
        counters.withLockedValue { $0.cacheHits += 1 }
        return answer
    }

    /// The cache's key for a question: lower-cased, without the final dot; an address asked
    /// for PTR becomes its reverse name.
    static func key(_ name: String, type: DNSRecordType) -> DNSCache.Key {
        var question = type == .ptr ? reverseName(name) ?? name : name
        if question.count > 1 && question.hasSuffix(".") { question.removeLast() }
        return DNSCache.Key(name: question.lowercased(), type: type)
    }

    /// Looks `name` up and waits for the answer. Only for threads that may block (a thread pool's,
    /// never an event loop's or the resolver thread's).
    public func lookup(_ name: String, type: DNSRecordType) -> Result<[DNSRecord], DNSLookupError> {
        let done = DispatchSemaphore(value: 0)
        let answer = NIOLockedValueBox<Result<[DNSRecord], DNSLookupError>>(.failure(.serverFailure("no answer")))
        lookup(name, type: type) { result in
            answer.withLockedValue { $0 = result }
            done.signal()
        }
        done.wait()
        return answer.withLockedValue { $0 }
    }

    /// `192.0.2.10` → `10.2.0.192.in-addr.arpa`; IPv6 → nibbles under `ip6.arpa`.
    static func reverseName(_ address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return address.split(separator: ".").reversed().joined(separator: ".") + ".in-addr.arpa"
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            let hex = Array("0123456789abcdef")
            return bytes.reversed().flatMap { [String(hex[Int($0 & 0xF)]), String(hex[Int($0 >> 4)])] }.joined(
                separator: ".") + ".ip6.arpa"
        }
        return nil
    }
}
