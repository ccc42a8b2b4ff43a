import Foundation
import NIOPosix
import OutboundSMTP
import XCTest
@testable import Delivery

/// The outbound client against Postfix's real smtp-sink on loopback.
final class OutboundSMTPSessionTests: XCTestCase {
    var sink: Process?
    var dumps = ""
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() {
        sink?.terminate()
        sink?.waitUntilExit()
        try? group.syncShutdownGracefully()
        if !dumps.isEmpty { try? FileManager.default.removeItem(atPath: dumps) }
    }

    func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let port = socket.localAddress!.port!
        try socket.close().wait()
        return port
    }

    /// Starts smtp-sink with `arguments`, dumping each transaction under a fresh directory.
    func startSink(_ arguments: [String]) throws -> Int {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/smtp-sink") else { throw XCTSkip("smtp-sink is not installed") }
        dumps = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-sink-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dumps, withIntermediateDirectories: true)
        chmod(dumps, 0o777)
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/smtp-sink")
        var privileges: [String] = []
        if getuid() == 0 { privileges = ["-u", "postfix"] }
        process.arguments = privileges + ["-d", dumps + "/%M."] + arguments + ["127.0.0.1:\(port)", "10"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        sink = process
        for _ in 0..<100 {
            if (try? ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).wait())?.close() != nil { return port }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw XCTSkip("smtp-sink did not start")
    }

    let envelope = SMTPClientStateMachine.Envelope(mailFrom: "a@source.test",
                                                   recipients: [.init(address: "x@dest.test"), .init(address: "y@dest.test")], size: 40)
    let message = Array("Subject: hello\r\n\r\n.dot line\r\nbody\r\n".utf8)

    func deliver(port: Int, timeout: Int64 = 10) throws -> [SMTPClientStateMachine.RecipientOutcome] {
        var options = OutboundSMTPSession.Options(heloName: "impulse.test", tlsPolicy: .opportunistic, timeout: .seconds(timeout))
        options.connectTimeout = .seconds(5)
        return try OutboundSMTPSession.deliver(envelope, message: message, to: "127.0.0.1", port: port, options: options, group: group).wait()
    }

    func testDeliversToARealSinkWithDotStuffing() throws {
        let port = try startSink([])
        let outcomes = try deliver(port: port)
        XCTAssertEqual(outcomes.count, 2)
        for outcome in outcomes {
            guard case .delivered(let reply) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertEqual(reply.code, 250)
        }
        Thread.sleep(forTimeInterval: 0.2)
        let files = try FileManager.default.contentsOfDirectory(atPath: dumps)
        XCTAssertEqual(files.count, 1)
        let dump = try String(contentsOfFile: dumps + "/" + files[0], encoding: .utf8)
        XCTAssertTrue(dump.contains("x@dest.test") && dump.contains("y@dest.test"), dump)
        XCTAssertTrue(dump.contains("\n.dot line\n") || dump.contains("\r\n.dot line\r\n"), "the dot is unstuffed at the sink: \(dump)")
    }

    func testRefusalsTempfailsAndDisconnects() throws {
        let rejecting = try startSink(["-f", "rcpt"])
        for outcome in try deliver(port: rejecting) {
            guard case .permanent(let why) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertTrue(why.hasPrefix("RCPT TO: 500 5.3.0"), why)
        }
        sink?.terminate()
        sink?.waitUntilExit()
        let deferring = try startSink(["-r", "data"])
        for outcome in try deliver(port: deferring) {
            guard case .transient(let why) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertTrue(why.hasPrefix("DATA: 450 4.3.0"), why)
        }
        sink?.terminate()
        sink?.waitUntilExit()
        let hangingUp = try startSink(["-q", "data"])
        for outcome in try deliver(port: hangingUp) {
            guard case .transient(let why) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertTrue(why.contains("closed"), why)
        }
    }

    func testNothingListeningIsATemporaryFailure() throws {
        let port = try freePort()
        for outcome in try deliver(port: port) {
            guard case .transient(let why) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertTrue(why.contains("cannot connect"), why)
        }
    }

    func testASilentNextHopTimesOut() throws {
        let listener = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? listener.close().wait() }
        let started = Date()
        for outcome in try deliver(port: listener.localAddress!.port!, timeout: 1) {
            guard case .transient(let why) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertTrue(why.contains("timeout"), why)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }
}
