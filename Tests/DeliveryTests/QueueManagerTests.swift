import Foundation
import ImpulseConfig
import Logging
import NIOCore
import NIOPosix
import Spool
import XCTest

@testable import Delivery

/// The queue manager in-process — spool writer, journal, mainlog, connections — against
/// Postfix's real smtp-sink on loopback (and a silent listener, and a closed port).
final class QueueManagerTests: XCTestCase {
    var sink: Process?
    var directory = ""
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool = NIOThreadPool(numberOfThreads: 2)

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-delivery-\(UUID())").path
        try? FileManager.default.createDirectory(atPath: directory + "/dumps", withIntermediateDirectories: true)
        chmod(directory, 0o755)
        chmod(directory + "/dumps", 0o777)
        pool.start()
    }

    override func tearDown() {
        sink?.terminate()
        sink?.waitUntilExit()
        try? pool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let port = socket.localAddress!.port!
        try socket.close().wait()
        return port
    }

    /// smtp-sink with `arguments`, one dump file per transaction.
    func startSink(_ arguments: [String]) throws -> Int {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/smtp-sink") else {
            throw XCTSkip("smtp-sink is not installed")
        }
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/smtp-sink")
        process.arguments =
            (getuid() == 0 ? ["-u", "postfix"] : []) + ["-d", directory + "/dumps/%M."] + arguments + [
                "127.0.0.1:\(port)", "10"
            ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        sink = process
        for _ in 0..<100 {
            if (try? ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).wait())?.close() != nil {
                return port
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw XCTSkip("smtp-sink did not start")
    }

    /// A queue manager whose `dest.test` goes to 127.0.0.1:`port`; `options` adds to the domain scope.
    func makeManager(port: Int, options: String = "") throws -> (QueueManager, SpoolWriter, DeliveryJournal) {
        let root = try ConfigParser().parse(
            text: """
                domain "dest.test" { gateway = "127.0.0.1:\(port)"  retry_interval = 600  \(options) }
                ESMTP_Listener { Listen "127.0.0.1:0" { } }
                """, file: directory + "/ecelerity.conf")
        let configuration = try ConfigurationLoader().bind(root, sourcePath: directory + "/ecelerity.conf")
        let spool = SpoolDirectory(base: directory + "/spool")
        try spool.prepare()
        let logger = Logger(label: "test")
        let writer = SpoolWriter(directory: spool, logger: logger)
        let journal = DeliveryJournal(logger: logger)
        let log = DeliveryLog(mainlog: directory + "/mainlog.ec", bouncelog: nil)
        XCTAssertEqual(log.reopen(), [])
        let manager = QueueManager(
            settings: .init(
                hostname: "impulse.test", outbound: configuration.outbound, bindings: [], shutdownTimeout: 5),
            group: group, resolver: nil, blockingWork: pool, spoolWriter: writer, journal: journal, log: log,
            idGenerator: MessageIDGenerator(), logger: logger)
        writer.onCommit = { manager.accepted($0) }
        journal.start()
        writer.start()
        manager.start(recovered: [])
        return (manager, writer, journal)
    }

    @discardableResult
    func submit(
        _ writer: SpoolWriter, recipients: [String], body: String = "Subject: hello\r\n\r\n.dot line\r\nbody\r\n",
        sender: String = ""
    ) throws -> String {
        try submitTogether(writer, [recipients], body: body, sender: sender)[0]
    }

    /// Several messages handed to the spool writer before any is made durable: they are committed
    /// in one batch, so the queue manager takes them up together.
    func submitTogether(
        _ writer: SpoolWriter, _ recipientLists: [[String]],
        body: String = "Subject: hello\r\n\r\n.dot line\r\nbody\r\n", sender: String = ""
    ) throws -> [String] {
        let generator = MessageIDGenerator()
        var ids: [String] = []
        var futures: [EventLoopFuture<Void>] = []
        for recipients in recipientLists {
            let envelope = SpoolEnvelope(
                id: generator.next(), receivedAtMicros: Int64(Date().timeIntervalSince1970 * 1e6),
                mailFrom: sender, recipients: recipients.map { .init(address: $0) }, peerAddress: "127.0.0.1",
                peerPort: 1, helo: "client", receivedProtocol: "ESMTP", listener: "test")
            let promise = group.next().makePromise(of: Void.self)
            writer.submit(.init(envelope: envelope, data: [ByteBuffer(string: body)], promise: promise))
            ids.append(envelope.id)
            futures.append(promise.futureResult)
        }
        for future in futures { try future.wait() }
        return ids
    }

    /// mainlog records of `kind`, split on `@` (the reply text last).
    func records(_ kind: String, count: Int, timeout: TimeInterval = 10) -> [[String]] {
        let deadline = Date().addingTimeInterval(timeout)
        var found: [[String]] = []
        while Date() < deadline {
            let text = (try? String(contentsOfFile: directory + "/mainlog.ec", encoding: .utf8)) ?? ""
            found = text.split(separator: "\n").map {
                $0.split(separator: "@", maxSplits: 13, omittingEmptySubsequences: false).map(String.init)
            }
            .filter { $0.count > 4 && $0[4] == kind }
            if found.count >= count { return found }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTFail("\(found.count) of \(count) \(kind) records")
        return found
    }

    /// Every delivery journal in the spool, as text.
    func journalText() -> String {
        let queue = directory + "/spool/queue"
        return ((try? FileManager.default.contentsOfDirectory(atPath: queue)) ?? []).filter { $0.hasSuffix(".jnl") }
            .compactMap { try? String(contentsOfFile: queue + "/" + $0, encoding: .utf8) }.joined()
    }

    func stop(_ parts: (QueueManager, SpoolWriter, DeliveryJournal)) {
        parts.0.stop()
        parts.1.stop()
        parts.2.stop()
    }

    func testDeliversToARealSinkReusingTheConnection() throws {
        let parts = try makeManager(port: try startSink([]), options: "max_outbound_connections = 1")
        try submit(parts.1, recipients: ["x@dest.test", "y@dest.test"])
        try submit(parts.1, recipients: ["z@dest.test"])
        let delivered = records("D", count: 3)
        XCTAssertEqual(delivered.map { $0[5] }, ["dest.test", "dest.test", "dest.test"])
        XCTAssertEqual(Set(delivered.map { $0[3] }).count, 1, "one connection for both messages")
        stop(parts)
        let dumps = try FileManager.default.contentsOfDirectory(atPath: directory + "/dumps")
        XCTAssertEqual(dumps.count, 2)
        let text = try dumps.map { try String(contentsOfFile: directory + "/dumps/" + $0, encoding: .utf8) }.joined()
        XCTAssertTrue(text.contains("x@dest.test") && text.contains("z@dest.test"), text)
        XCTAssertTrue(
            text.contains("\n.dot line\n") || text.contains("\r\n.dot line\r\n"),
            "the dot is unstuffed at the sink: \(text)")
        XCTAssertEqual(parts.0.messageCount, 0)
        // Once its connection has gone, the idle queue is forgotten by the sweep.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && parts.0.lock.withLock({ parts.0.queues.values.contains { $0.connections > 0 } }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(parts.0.lock.withLock { parts.0.queues.count }, 1)
        parts.0.lock.withLock { parts.0.removeIdleQueues(nowMicros: QueueManager.nowMicros()) }
        XCTAssertEqual(parts.0.lock.withLock { parts.0.queues.count }, 0, "an idle queue does not stay")
    }

    /// A permanent failure is journaled as settled only once its bounce is durable: while the
    /// bounce cannot be spooled (a real EFBIG from a file-size limit) the recipient stays
    /// pending, and the bounce is tried again until it is.
    func testAFailedRecipientIsSettledOnlyOnceItsBounceIsSpooled() throws {
        let parts = try makeManager(port: try startSink(["-f", "rcpt"]))
        parts.0.bounceRetryDelay = .milliseconds(300)
        func spooledIDs() -> [String] {
            SpoolDirectory(base: directory + "/spool").scan(readOnly: true, logger: nil).entries.map(\.envelope.id)
        }
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        // A file-size limit the original's record (about 500 octets) fits under and its bounce
        // (the report and the original's headers, over 1 KiB) does not, in any segment.
        var limited = saved
        limited.rlim_cur = 1024
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        let id: String
        do {
            id = try submit(parts.1, recipients: ["x@dest.test"], sender: "sender@origin.test")
        } catch {
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
            throw error
        }
        XCTAssertTrue(records("P", count: 1)[0][13].hasPrefix("RCPT TO: 500 5.3.0"))
        Thread.sleep(forTimeInterval: 1.0) // the bounce's write has failed (at least once) by now
        XCTAssertFalse(
            journalText().contains("S \(id) 0"), "not settled while the bounce is not spooled: \(journalText())")
        XCTAssertEqual(spooledIDs(), [id], "the original is still pending; no bounce yet")
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !journalText().contains("S \(id) 0") { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(journalText().contains("S \(id) 0"), journalText())
        let bounces = SpoolDirectory(base: directory + "/spool").scan(readOnly: true, logger: nil).entries.filter {
            $0.envelope.mailFrom.isEmpty
        }
        XCTAssertEqual(bounces.map { $0.envelope.recipients.map(\.address) }, [["sender@origin.test"]])
        stop(parts)
    }

    /// `message fail` from the console follows the same rule: its bounce durable first; a quiet
    /// fail (no bounce) settles at once.
    func testAConsoleFailSettlesOnlyOnceItsBounceIsSpooled() throws {
        let parts = try makeManager(port: try freePort()) // nothing listens: the message stays queued
        parts.0.bounceRetryDelay = .milliseconds(300)
        // Both are deferred before they are failed: the first attempt is refused (a T record), and
        // the other is refused in a parallel attempt or held for the domain's retry interval. A
        // refused connect takes far less than the pause, so neither is in flight after it.
        let ids = try submitTogether(parts.1, [["x@dest.test"], ["y@dest.test"]], sender: "sender@origin.test")
        let (id, quietID) = (ids[0], ids[1])
        _ = records("T", count: 1)
        Thread.sleep(forTimeInterval: 0.3)
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        var limited = saved
        limited.rlim_cur = 1024 // the bounce (report and original headers, over 1 KiB) cannot be written
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        XCTAssertTrue(parts.0.fail(messageID: id, text: "550 5.0.0 failed by the operator", quiet: false))
        XCTAssertTrue(parts.0.fail(messageID: quietID, text: "550 5.0.0 failed by the operator", quiet: true))
        Thread.sleep(forTimeInterval: 1.0) // the bounce's write has failed (at least once) by now
        let during = journalText()
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        XCTAssertFalse(during.contains("S \(id) 0"), "not settled while the bounce is not spooled: \(during)")
        XCTAssertTrue(during.contains("S \(quietID) 0"), "a quiet fail has no bounce to wait for: \(during)")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !journalText().contains("S \(id) 0") { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(journalText().contains("S \(id) 0"), journalText())
        let bounces = SpoolDirectory(base: directory + "/spool").scan(readOnly: true, logger: nil).entries.filter {
            $0.envelope.mailFrom.isEmpty
        }
        XCTAssertEqual(bounces.map { $0.envelope.recipients.map(\.address) }, [["sender@origin.test"]])
        stop(parts)
    }

    func testRefusalsAreFinalAndDeferralsJournaled() throws {
        let parts = try makeManager(port: try startSink(["-f", "rcpt"]))
        try submit(parts.1, recipients: ["x@dest.test"])
        XCTAssertTrue(records("P", count: 1)[0][13].hasPrefix("RCPT TO: 500 5.3.0"))
        stop(parts)
        sink?.terminate()
        sink?.waitUntilExit()
        let deferring = try makeManager(port: try startSink(["-r", "data"]))
        try submit(deferring.1, recipients: ["y@dest.test"])
        let transient = records("T", count: 1)
        XCTAssertTrue(transient[0][13].hasPrefix("DATA: 450 4.3.0"), transient[0][13])
        XCTAssertEqual(transient[0][9], "6", "stage: during DATA")
        stop(deferring)
        let journal = try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/queue").filter {
            $0.hasSuffix(".jnl")
        }
        .map { try String(contentsOfFile: directory + "/spool/queue/" + $0, encoding: .utf8) }.joined()
        XCTAssertTrue(journal.contains(" 0 1 "), journal)
    }

    func testNothingListeningAndASilentNextHopAreTemporary() throws {
        let closed = try makeManager(port: try freePort())
        try submit(closed.1, recipients: ["x@dest.test"])
        XCTAssertTrue(records("T", count: 1)[0][13].hasPrefix("421 4.4.1 no adequate servers for dest.test"))
        // The domain is unreachable: the next message waits for the retry without an attempt.
        try submit(closed.1, recipients: ["z@dest.test"])
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(records("T", count: 1).count, 1)
        XCTAssertEqual(closed.0.totals().delayed, 2)
        // An operator's flush tries at once.
        XCTAssertEqual(closed.0.flush(domain: "dest.test"), 2)
        XCTAssertEqual(records("T", count: 3).count, 3)
        stop(closed)
        let listener = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? listener.close().wait() }
        let silent = try makeManager(port: listener.localAddress!.port!, options: "ehlo_timeout = 1")
        let started = Date()
        try submit(silent.1, recipients: ["y@dest.test"])
        let transient = records("T", count: 4)
        XCTAssertTrue(transient[3][13].contains("timeout after 1 s"), transient[3][13])
        XCTAssertEqual(transient[3][9], "12", "stage: reading the banner")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        stop(silent)
    }
}
