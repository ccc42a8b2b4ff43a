import Foundation
import XCTest

@testable import Resolver

/// The resolver against a real name server on loopback (dnsmasq, started here): answers of every
/// type, NXDOMAIN/NODATA/server-failure mapping, TTL expiry and negative caching (counted in the
/// server's own query log), a silent server, answers too large for UDP and too large to keep,
/// and many concurrent look-ups.
final class DNSResolverTests: XCTestCase {
    private var directory = ""
    private var servers: [Process] = []
    /// dnsmasq with plain records (negative answers without an SOA: not cached by Impulse).
    private var plainPort = 0
    /// dnsmasq authoritative for zone.itest, 1-second TTLs: negative answers carry its SOA.
    private var zonePort = 0

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "impulse-dns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let big = (0..<6).map { index in String(repeating: Character(String(UnicodeScalar(97 + index)!)), count: 250) }
        plainPort = try startDnsmasq(
            "plain",
            [
                "--local=/plain.itest/", "--address=/host.plain.itest/192.0.2.10",
                "--address=/host.plain.itest/2001:db8::10",
                "--mx-host=mail.plain.itest,mx2.plain.itest,20", "--mx-host=mail.plain.itest,mx1.plain.itest,10",
                "--txt-record=txt.plain.itest,v=spf1 -all", "--ptr-record=4.3.2.1.in-addr.arpa,host.plain.itest",
                "--txt-record=big.plain.itest," + big.joined(separator: ","), "--address=/wild.itest/192.0.2.20",
                "--local-ttl=300"
            ], probe: "host.plain.itest")
        zonePort = try startDnsmasq(
            "zone",
            [
                "--auth-server=ns.zone.itest,lo", "--auth-zone=zone.itest",
                "--auth-soa=1,hostmaster.zone.itest,1200,180,1209600,1", "--auth-ttl=1",
                "--host-record=short.zone.itest,192.0.2.30", "--host-record=probe.zone.itest,192.0.2.31"
            ] + (1...101).map { "--host-record=many.zone.itest,198.51.100.\($0)" }, probe: "probe.zone.itest")
    }

    override func tearDown() {
        for server in servers {
            server.terminate()
            server.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts dnsmasq on a free loopback port, logging its queries to `<name>.log`; returns the
    /// port once it answers `probe`.
    private func startDnsmasq(_ name: String, _ records: [String], probe: String) throws -> Int {
        let port = try Self.freeUDPPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/dnsmasq")
        process.arguments =
            [
                "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                "--listen-address=127.0.0.1", "--port=\(port)", "--user=root", "--pid-file=\(directory)/\(name).pid",
                "--log-queries", "--log-facility=\(directory)/\(name).log"
            ] + records
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.append(process)
        let waiting = try DNSResolver(nameservers: ["127.0.0.1@\(port)"], resolvConf: nil)
        defer { waiting.shutdown() }
        for _ in 0..<100 {
            if case .success = waiting.lookup(probe, type: .a) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return port
    }

    private func resolver(_ port: Int, timeout: Double = DNSLimits.queryTimeout) throws -> DNSResolver {
        try DNSResolver(nameservers: ["127.0.0.1@\(port)"], resolvConf: nil, timeout: timeout)
    }

    /// How many times the zone's dnsmasq was asked `name` (its own query log).
    private func queriesSeen(_ name: String, type: DNSRecordType) -> Int {
        let log = (try? String(contentsOfFile: directory + "/zone.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("[\(type.rawValue)] \(name) from ") }.count
    }

    /// A UDP socket bound to a free loopback port, and the port.
    static func boundUDPSocket() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func freeUDPPort() throws -> Int {
        let (fd, port) = boundUDPSocket()
        close(fd)
        return port
    }

    func testAnswersOfEveryType() throws {
        let dns = try resolver(plainPort)
        defer { dns.shutdown() }
        XCTAssertEqual(try dns.lookup("host.plain.itest", type: .a).get(), [DNSRecord(value: "192.0.2.10")])
        XCTAssertEqual(try dns.lookup("HOST.plain.itest.", type: .aaaa).get(), [DNSRecord(value: "2001:db8::10")])
        XCTAssertEqual(
            try dns.lookup("mail.plain.itest", type: .mx).get(),
            [DNSRecord(value: "mx1.plain.itest", preference: 10), DNSRecord(value: "mx2.plain.itest", preference: 20)])
        XCTAssertEqual(try dns.lookup("txt.plain.itest", type: .txt).get(), [DNSRecord(value: "v=spf1 -all")])
        XCTAssertEqual(try dns.lookup("1.2.3.4", type: .ptr).get(), [DNSRecord(value: "host.plain.itest")])
    }

    func testNegativeAnswersAndFailuresAreTold() throws {
        let plain = try resolver(plainPort), zone = try resolver(zonePort)
        defer {
            plain.shutdown()
            zone.shutdown()
        }
        XCTAssertEqual(plain.lookup("absent.plain.itest", type: .a), .failure(.nxdomain))
        XCTAssertEqual(zone.lookup("absent.zone.itest", type: .a), .failure(.nxdomain))
        XCTAssertEqual(zone.lookup("short.zone.itest", type: .mx), .failure(.noData))
        let dns = plain
        // Outside every zone it serves and with no upstream, dnsmasq refuses.
        guard case .failure(.serverFailure) = dns.lookup("elsewhere.example", type: .a) else {
            return XCTFail("a refused question is a server failure")
        }
    }

    /// Answers are cached for their TTL (one second here) and asked again after it; NXDOMAIN and
    /// NODATA from a zone with an SOA likewise (RFC 2308); a cached answer is counted as a hit.
    func testAnswersAndNegativeAnswersAreCachedForTheirTTL() throws {
        let dns = try resolver(zonePort)
        defer { dns.shutdown() }
        for (name, type) in [("short.zone.itest", DNSRecordType.a), ("gone.zone.itest", .a), ("short.zone.itest", .txt)]
        {
            let first = dns.lookup(name, type: type)
            let hits = dns.statistics.cacheHits
            XCTAssertEqual(dns.lookup(name, type: type), first)
            XCTAssertEqual(dns.statistics.cacheHits, hits + 1, "\(name) \(type) is answered from the cache")
            XCTAssertEqual(queriesSeen(name, type: type), 1, "\(name) \(type) asked once")
        }
        // libunbound keeps them for the TTL too, counted in whole seconds: past two, both have expired.
        Thread.sleep(forTimeInterval: 2.2)
        XCTAssertEqual(try dns.lookup("short.zone.itest", type: .a).get(), [DNSRecord(value: "192.0.2.30")])
        XCTAssertEqual(dns.lookup("gone.zone.itest", type: .a), .failure(.nxdomain))
        XCTAssertEqual(queriesSeen("short.zone.itest", type: .a), 2, "asked again once the TTL ran out")
        XCTAssertEqual(queriesSeen("gone.zone.itest", type: .a), 2)
    }

    /// A name server that never answers: the look-up fails after the timeout, not libunbound's
    /// own (much longer) retries; stopping the resolver fails what is still outstanding.
    func testASilentServerTimesOutAndStoppingFailsWhatIsOutstanding() throws {
        let silent = Self.boundUDPSocket()
        defer { close(silent.fd) }
        let dns = try DNSResolver(nameservers: ["127.0.0.1@\(silent.port)"], resolvConf: nil, timeout: 0.5)
        let started = Date()
        XCTAssertEqual(dns.lookup("anything.itest", type: .a), .failure(.serverFailure("timed out after 0.5 s")))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(dns.statistics.timeouts, 1)

        let answered = expectation(description: "outstanding look-up answered at shutdown")
        dns.lookup("another.itest", type: .a) { result in
            XCTAssertEqual(result, .failure(.serverFailure("resolver stopped")))
            answered.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.1)
        dns.shutdown()
        wait(for: [answered], timeout: 2)
        dns.lookup("after.itest", type: .a) { XCTAssertEqual($0, .failure(.serverFailure("resolver stopped"))) }
    }

    /// 1,500 octets of TXT do not fit a UDP answer: libunbound asks again over TCP and gets all
    /// of it. 101 A records are more than Impulse keeps: a bad answer, not a truncated list.
    func testTruncatedAnswersAreFetchedOverTCPAndOversizedOnesRefused() throws {
        let plain = try resolver(plainPort), zone = try resolver(zonePort)
        defer {
            plain.shutdown()
            zone.shutdown()
        }
        let text = try plain.lookup("big.plain.itest", type: .txt).get()
        XCTAssertEqual(text.first?.value.count, 1500)
        XCTAssertEqual(
            zone.lookup("many.zone.itest", type: .a),
            .failure(.badAnswer("more than \(DNSLimits.maxAnswerRecords) A records")))
    }

    /// The last reference to a resolver let go in a completion, on the resolver thread: the
    /// resolver stops without waiting for its own thread (which would never finish).
    func testTheLastReferenceDroppedOnTheResolverThreadDoesNotDeadlock() throws {
        let holder = ResolverHolder(try resolver(plainPort))
        let answered = expectation(description: "completion returned")
        holder.value?.lookup("host.plain.itest", type: .a) { _ in
            holder.drop()
            answered.fulfill()
        }
        wait(for: [answered], timeout: 5)
    }

    /// Many sessions asking at once, from many threads: every look-up gets its own right answer;
    /// questions asked while the same one is outstanding share its query.
    func testManyConcurrentLookups() throws {
        let dns = try resolver(plainPort)
        defer { dns.shutdown() }
        let wrong = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 4000) { index in
            let name = "h\(index % 400).wild.itest"
            if (try? dns.lookup(name, type: .a).get()) != [DNSRecord(value: "192.0.2.20")] { wrong.increment() }
        }
        XCTAssertEqual(wrong.value, 0)
        let statistics = dns.statistics
        XCTAssertEqual(statistics.queries + statistics.coalesced + statistics.cacheHits, 4000)
        XCTAssertLessThanOrEqual(statistics.queries, 400, "each name asked of the name server once")
    }
}

/// A reference several threads may drop.
final class ResolverHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var resolver: DNSResolver?
    init(_ resolver: DNSResolver) { self.resolver = resolver }
    var value: DNSResolver? { lock.withLock { resolver } }
    func drop() { lock.withLock { resolver = nil } }
}

/// A counter several threads increment.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
