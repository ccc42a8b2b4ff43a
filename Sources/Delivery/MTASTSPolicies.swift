import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Resolver

/// MTA-STS (RFC 8461) for outbound delivery: finds a domain's policy — the `_mta-sts` TXT record
/// through the server's resolver, the policy over HTTPS from `mta-sts.<domain>` (certificate
/// verified, no redirects, at most 64 KiB, 10 s) — and caches it for its max_age, in memory and in
/// the policy store on disk, so a restart keeps what was learnt (a downgrade attack then cannot
/// strip it by blocking the TXT record). A new TXT id makes the policy be fetched again. Counts
/// each domain's TLS results for TLS-RPT (RFC 8460). Thread-safe.
public final class MTASTSPolicies: Sendable {
    public struct Settings: Sendable {
        /// Port of the policy's HTTPS server (443; another for a proxy or a test).
        public var port = 443
        /// PEM CA certificates the policy server's certificate must chain to (nil: the system's).
        public var caFile: String?
        /// Where policies are kept across restarts (nil: memory only).
        public var storeDirectory: String?

        public init(port: Int = 443, caFile: String? = nil, storeDirectory: String? = nil) {
            self.port = port
            self.caFile = caFile
            self.storeDirectory = storeDirectory
        }
    }

    struct Entry: Codable, Sendable {
        var id: String
        var policy: MTASTSPolicy
        /// Seconds since the epoch.
        var fetchedAt: Double
        var expiresAt: Double
    }

    /// TLS-RPT (RFC 8460) counts for one policy domain since start.
    public struct Report: Sendable {
        public var successes = 0
        /// Failure type (RFC 8460 §4.3: `sts-policy-fetch-error`, `sts-webpki-invalid`,
        /// `starttls-not-supported`, `validation-failure`) → sessions.
        public var failures: [String: Int] = [:]
    }

    /// Policies kept at most (the domains mail goes to choose how many exist).
    static let maxCached = 10_000

    let resolver: DNSResolver?
    let settings: Settings
    let group: EventLoopGroup
    let blockingWork: NIOThreadPool
    let logger: Logger
    private let cache = NIOLockedValueBox<[String: Entry]>([:])
    private let reports = NIOLockedValueBox<[String: Report]>([:])

    public init(
        resolver: DNSResolver?, settings: Settings, group: EventLoopGroup, blockingWork: NIOThreadPool, logger: Logger
    ) {
        self.resolver = resolver
        self.settings = settings
        self.group = group
        self.blockingWork = blockingWork
        self.logger = logger
        if let directory = settings.storeDirectory { load(from: directory) }
    }

    /// The policy in force for `domain` (nil: none); `done` is called on an event loop.
    func policy(for domain: String, done: @escaping @Sendable (MTASTSPolicy?) -> Void) {
        let domain = domain.lowercased()
        let resolver = self.resolver
        let loop = group.next()
        blockingWork.runIfActive(eventLoop: loop) { () -> (id: String?, dnsFailed: Bool) in
            guard let resolver else { return (nil, true) }
            switch resolver.lookup("_mta-sts.\(domain)", type: .txt) {
            case .success(let records):
                let ids = records.compactMap { Self.recordID($0.value) }
                // RFC 8461 §3.1: more than one STSv1 record is as none.
                return (ids.count == 1 ? ids[0] : nil, false)
            case .failure(.nxdomain), .failure(.noData): return (nil, false)
            case .failure: return (nil, true)
            }
        }.whenComplete { [self] result in
            let now = Date().timeIntervalSince1970
            let cached = cache.withLockedValue { $0[domain] }.flatMap { $0.expiresAt > now ? $0 : nil }
            guard case .success(let found) = result, let id = found.id else {
                // No record (or DNS failed): a cached policy stays in force until its max_age.
                done(cached?.policy)
                return
            }
            if let cached, cached.id == id {
                done(cached.policy)
                return
            }
            fetch(domain) { [self] fetched in
                switch fetched {
                case .success(let policy):
                    let entry = Entry(
                        id: id, policy: policy, fetchedAt: now, expiresAt: now + Double(policy.maxAge))
                    store(domain, entry)
                    done(policy)
                case .failure(let error):
                    logger.warning(
                        "MTA-STS: cannot fetch the policy of \(domain): \(error)",
                        metadata: ["domain": "\(domain)"])
                    count(domain, failure: "sts-policy-fetch-error")
                    done(cached?.policy)
                }
            }
        }
    }

    /// `v=STSv1; id=20160831085700Z;` → the id (RFC 8461 §3.1); nil for another record.
    static func recordID(_ text: String) -> String? {
        let fields = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.first == "v=STSv1" else { return nil }
        for field in fields.dropFirst() where field.hasPrefix("id=") {
            let id = String(field.dropFirst(3))
            guard (1...32).contains(id.count), id.allSatisfy({ $0.isLetter || $0.isNumber }) else { return nil }
            return id
        }
        return nil
    }

    /// GET https://mta-sts.<domain>/.well-known/mta-sts.txt, the host's address from the
    /// server's resolver, its certificate verified for that name.
    func fetch(_ domain: String, done: @escaping @Sendable (Result<MTASTSPolicy, Error>) -> Void) {
        let host = "mta-sts.\(domain)"
        let resolver = self.resolver
        let loop = group.next()
        blockingWork.runIfActive(eventLoop: loop) { () -> String? in
            guard case .success(let records) = resolver?.lookup(host, type: .a), let first = records.first else {
                return nil
            }
            return first.value
        }.whenComplete { [self] result in
            guard case .success(let address?) = result else {
                done(.failure(MTASTSPolicy.PolicyError("\(host) has no address")))
                return
            }
            do {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.minimumTLSVersion = .tlsv12
                if let caFile = settings.caFile {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                }
                var configuration = HTTPClient.Configuration(
                    tlsConfiguration: tls, redirectConfiguration: .disallow,
                    timeout: .init(connect: .seconds(10), read: .seconds(10)))
                configuration.decompression = .disabled
                configuration.dnsOverride = [host: address]
                // The request first: a client is made only when it can be used (and shut down).
                let request = try HTTPClient.Request(
                    url: "https://\(host):\(settings.port)/.well-known/mta-sts.txt", method: .GET)
                let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
                let accumulator = ResponseAccumulator(request: request, maxBodySize: MTASTSPolicy.maxBodySize)
                client.execute(
                    request: request, delegate: accumulator, eventLoop: .delegate(on: loop),
                    deadline: .now() + .seconds(20)
                ).futureResult.whenComplete { response in
                    client.shutdown { _ in }
                    switch response {
                    case .failure(let error): done(.failure(error))
                    case .success(let response):
                        guard response.status == .ok else {
                            done(.failure(MTASTSPolicy.PolicyError("HTTP \(response.status.code)")))
                            return
                        }
                        let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
                        guard type.hasPrefix("text/plain") else {
                            done(.failure(MTASTSPolicy.PolicyError("content type '\(type)' is not text/plain")))
                            return
                        }
                        let body = response.body.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
                        done(MTASTSPolicy.parse(body).mapError { $0 as Error })
                    }
                }
            } catch {
                done(.failure(error))
            }
        }
    }

    func store(_ domain: String, _ entry: Entry) {
        cache.withLockedValue { cache in
            if cache.count >= Self.maxCached, cache[domain] == nil {
                // Room for the new one: the policy that expires first goes.
                if let oldest = cache.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key { cache[oldest] = nil }
            }
            cache[domain] = entry
        }
        guard let directory = settings.storeDirectory else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try JSONEncoder().encode(entry)
            let path = directory + "/" + domain
            try data.write(to: URL(fileURLWithPath: path + ".tmp"), options: .atomic)
            _ = rename(path + ".tmp", path)
        } catch {
            logger.warning("MTA-STS: cannot keep the policy of \(domain) in \(directory): \(error)")
        }
    }

    /// Reads the policies a previous run kept (expired ones are left out).
    func load(from directory: String) {
        let now = Date().timeIntervalSince1970
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        var loaded: [String: Entry] = [:]
        for name in names.prefix(Self.maxCached) where !name.hasSuffix(".tmp") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name),
                let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.expiresAt > now
            else { continue }
            loaded[name] = entry
        }
        cache.withLockedValue { $0 = loaded }
    }

    /// `mta_sts refresh policy <domain>`: forgets the cached policy; the next delivery fetches it.
    public func forget(_ domain: String) -> Bool {
        let removed = cache.withLockedValue { $0.removeValue(forKey: domain.lowercased()) } != nil
        if let directory = settings.storeDirectory { unlink(directory + "/" + domain.lowercased()) }
        return removed
    }

    /// The cached policies, for the console.
    public func cached() -> [(domain: String, id: String, policy: MTASTSPolicy, expiresAt: Date)] {
        cache.withLockedValue { cache in
            cache.map { ($0.key, $0.value.id, $0.value.policy, Date(timeIntervalSince1970: $0.value.expiresAt)) }
        }.sorted { $0.domain < $1.domain }
    }

    /// Counts one session to a policy domain: a success, or a failure of that type.
    func count(_ domain: String, failure: String? = nil) {
        reports.withLockedValue { reports in
            guard reports[domain] != nil || reports.count < Self.maxCached else { return }
            if let failure {
                reports[domain, default: Report()].failures[failure, default: 0] += 1
            } else {
                reports[domain, default: Report()].successes += 1
            }
        }
    }

    /// TLS-RPT counts by policy domain.
    public func tlsReports() -> [String: Report] { reports.withLockedValue { $0 } }
}
