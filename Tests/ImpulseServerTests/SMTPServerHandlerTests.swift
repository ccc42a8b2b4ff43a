import Delivery
import Foundation
import ImpulseConfig
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import SMTPProtocol
import Scriptlet
import Spool
import XCTest

@testable import ImpulseServer
@testable import PolicyRuntime
@testable import SMTPServer

/// The SMTP handler on NIO's EmbeddedChannel: what it writes for what a client sends, with no
/// socket — pipelining, STARTTLS framing, a callout that suspends and resumes, backpressure.
/// (The end-to-end tests drive the same handler over real sockets with real clients.)
final class SMTPServerHandlerTests: XCTestCase {
    private var directory = ""
    private var pool: NIOThreadPool?

    override func setUp() {
        directory = NSTemporaryDirectory() + "impulse-handler-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        self.pool = pool
    }

    override func tearDown() {
        try? pool?.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func services() -> ServerServices {
        let spool = SpoolDirectory(base: directory)
        return ServerServices(
            spoolWriter: SpoolWriter(directory: spool, logger: Logger(label: "test")),
            idGenerator: MessageIDGenerator(),
            hostname: "mx.test", receptionMemoryLimit: 1 << 20, blockingWork: pool!, resolver: nil,
            recordLog: DeliveryLog(mainlog: nil, bouncelog: nil), metricsServed: false)
    }

    /// A channel with a handler for a client at 192.0.2.9, its greeting already read.
    private func session(
        tls: NIOSSLContext? = nil, offerTLS: Bool? = nil, policyState: PolicyState? = nil,
        configure: (inout InboundPolicy) -> Void = { _ in }
    ) throws -> EmbeddedChannel {
        var policy = InboundPolicy()
        policy.relayDomains = [DomainPattern("example.test")]
        configure(&policy)
        let machine = SMTPSessionStateMachine(
            policy: policy, hostname: "mx.test", clientAddress: IPAddress("192.0.2.9")!, clientPort: 5000,
            listener: "127.0.0.1:25", tlsAvailable: offerTLS ?? (tls != nil), tlsActive: false,
            idGenerator: MessageIDGenerator(),
            policyCallouts: policyState?.callouts ?? [])
        let handler = SMTPServerHandler(
            machine: machine, services: services(), tlsContext: tls, logger: Logger(label: "test"),
            policyState: policyState, sessionID: 1)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        XCTAssertEqual(try replies(channel), ["220 mx.test ESMTP Impulse"])
        return channel
    }

    /// A server TLS context with a self-signed certificate made by openssl for this test.
    private func serverTLS() throws -> NIOSSLContext {
        let key = directory + "/key.pem", certificate = directory + "/cert.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
            "-subj", "/CN=mx.test"
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        return try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
    }

    /// Every reply line written so far.
    private func replies(_ channel: EmbeddedChannel) throws -> [String] {
        var lines: [String] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            lines += text.split(separator: "\r\n", omittingEmptySubsequences: true).map(String.init)
        }
        return lines
    }

    private func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Commands that arrive in one read are answered in order, as one flush.
    func testPipelinedCommandsAreAnsweredInOrder() throws {
        let channel = try session()
        try send(
            channel,
            "EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@else.test>\r\nNOOP\r\n")
        let lines = try replies(channel)
        XCTAssertEqual(lines.first, "250-mx.test Hello client.test [192.0.2.9]")
        XCTAssertEqual(
            Array(lines.drop { $0.hasPrefix("250-") || $0 == "250 HELP" }),
            ["250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.7.1 <y@else.test>: Relay access denied", "250 2.0.0 Ok"])
        XCTAssertTrue(channel.isActive)
    }

    /// A command split across reads is answered once its CRLF arrives; a bare LF does not end it.
    func testCommandsAreFramedByCRLFAcrossReads() throws {
        let channel = try session()
        try send(channel, "NO")
        XCTAssertEqual(try replies(channel), [])
        try send(channel, "OP\n")
        XCTAssertEqual(try replies(channel), [])
        try send(channel, "\r\n")
        XCTAssertEqual(try replies(channel), ["500 5.5.2 Invalid character in command"])
        try send(channel, "NOOP\r\n")
        XCTAssertEqual(try replies(channel), ["250 2.0.0 Ok"])
    }

    /// Commands pipelined behind STARTTLS are refused and the connection closed, before any TLS
    /// (RFC 3207 §4.2; the command injection attack); STARTTLS alone gets 220 and the TLS
    /// handler goes in front of the SMTP handler.
    func testCommandsPipelinedBehindStartTLSCloseTheConnection() throws {
        let channel = try session(tls: try serverTLS())
        try send(channel, "EHLO client.test\r\n")
        XCTAssertTrue(try replies(channel).contains("250-STARTTLS"))
        try send(channel, "STARTTLS\r\nMAIL FROM:<a@b.test>\r\n")
        XCTAssertEqual(
            try replies(channel), ["554 5.5.1 Commands pipelined after STARTTLS are not allowed, closing connection"])
        XCTAssertFalse(channel.isActive)

        let clean = try session(tls: try serverTLS())
        try send(clean, "EHLO client.test\r\n")
        _ = try replies(clean)
        try send(clean, "STARTTLS\r\n")
        XCTAssertEqual(try replies(clean), ["220 2.0.0 Ready to start TLS"])
        XCTAssertNotNil(try? clean.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
    }

    /// Should the session offer STARTTLS without a TLS context to start it with, the client is
    /// told TLS is not available instead of waiting for a handshake that never comes.
    func testStartTLSWithoutAContextIsRefusedNotLeftHanging() throws {
        let channel = try session(offerTLS: true)
        try send(channel, "EHLO client.test\r\n")
        XCTAssertTrue(try replies(channel).contains("250-STARTTLS"))
        try send(channel, "STARTTLS\r\n")
        XCTAssertEqual(try replies(channel), ["502 5.5.1 STARTTLS not available"])
        XCTAssertNil(try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
        try send(channel, "NOOP\r\n")
        XCTAssertEqual(try replies(channel).first?.prefix(3), "250")
    }

    /// A client that does not read its replies gets no more input processed until it does.
    func testInputWaitsWhileTheClientDoesNotReadReplies() throws {
        let channel = try session()
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        try send(channel, "NOOP\r\nNOOP\r\nRSET\r\n")
        XCTAssertEqual(try replies(channel), [], "nothing processed while the replies cannot be written")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(try replies(channel), ["250 2.0.0 Ok", "250 2.0.0 Ok", "250 2.0.0 Ok"])
    }

    /// A callout that waits suspends the session, not the event loop; the effect executor wakes
    /// it and the reply and the pipelined commands behind it follow, in order.
    func testASuspendedCalloutResumesAndPipelinedCommandsFollow() throws {
        let script = directory + "/sleepy.lua"
        try """
        local m = {}
        function m:validate_mailfrom(str, accept, vctx)
          msys.sleep(2)
          vctx:set_code(451, "4.7.1 woke up")
          return msys.core.VALIDATE_DONE
        end
        msys.registerModule("sleepy", m)
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let state = try PolicyState(scripts: [ScriptSource(name: "sleepy", path: script)])
        let channel = try session(policyState: state)
        try send(channel, "HELO client.test\r\nMAIL FROM:<a@b.test>\r\nNOOP\r\n")
        XCTAssertEqual(try replies(channel), ["250 mx.test"], "the session waits at MAIL")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1900))
        XCTAssertEqual(try replies(channel), [])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        XCTAssertEqual(try replies(channel), ["451 4.7.1 woke up", "250 2.0.0 Ok"])
    }
}
