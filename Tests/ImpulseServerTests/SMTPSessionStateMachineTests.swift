import Foundation
import ImpulseConfig
import NIOCore
import SMTPProtocol
import Scriptlet
import Spool
import XCTest

@testable import ImpulseServer
@testable import PolicyRuntime
@testable import SMTPServer

final class SMTPSessionStateMachineTests: XCTestCase {
    func machine(
        relayHosts: [String] = [], relayDomains: [String] = ["example.test"], tls: Bool = false,
        configure: (inout InboundPolicy) -> Void = { _ in }
    ) -> SMTPSessionStateMachine {
        var policy = InboundPolicy()
        policy.relayHosts = relayHosts.compactMap(CIDRBlock.init)
        policy.relayDomains = relayDomains.map(DomainPattern.init)
        configure(&policy)
        return SMTPSessionStateMachine(
            policy: policy, hostname: "mx.test", clientAddress: IPAddress("192.0.2.9")!, clientPort: 5000,
            listener: "127.0.0.1:25", tlsAvailable: tls, tlsActive: false, idGenerator: MessageIDGenerator())
    }

    func send(_ machine: inout SMTPSessionStateMachine, _ line: String) -> SMTPSessionStateMachine.Action {
        machine.receive(line: ByteBuffer(string: line))
    }

    func code(_ action: SMTPSessionStateMachine.Action) -> Int? {
        switch action {
        case .reply(let reply), .replyAndClose(let reply), .beginData(let reply), .startTLS(let reply),
            .discarded(let reply, _, _):
            return reply.code
        case .readChunk, .spool, .consult, .authenticate, .xclient: return nil
        }
    }

    func testHappyPathSpoolsEnvelopeAndReceivedHeader() throws {
        var session = machine()
        XCTAssertEqual(session.greeting().description, "220 mx.test ESMTP Impulse\r\n")
        guard case .reply(let ehlo) = send(&session, "EHLO client.test") else { return XCTFail() }
        XCTAssertEqual(ehlo.enhancedCode, nil)
        XCTAssertTrue(ehlo.lines.contains("SIZE \(SMTPLimits().maxMessageSize)"))
        for keyword in ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN"] {
            XCTAssertTrue(ehlo.lines.contains(keyword), keyword)
        }
        XCTAssertFalse(ehlo.lines.contains("STARTTLS"))
        XCTAssertEqual(
            send(&session, "MAIL FROM:<a@b.test> BODY=8BITMIME RET=FULL ENVID=e1"),
            .reply(SMTPReply(250, "2.1.0", "Ok")))
        XCTAssertEqual(send(&session, "RCPT TO:<u@example.test> NOTIFY=FAILURE"), .reply(SMTPReply(250, "2.1.5", "Ok")))
        XCTAssertEqual(code(send(&session, "DATA")), 354)
        let result = DotStuffedDataDecoder.Result(
            size: 9, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false)
        guard case .spool(let envelope, let parts) = session.dataCompleted(ByteBuffer(string: "Hi\r\n"), result) else {
            return XCTFail()
        }
        XCTAssertEqual(envelope.mailFrom, "a@b.test")
        XCTAssertEqual(envelope.recipients, [SpoolEnvelope.Recipient(address: "u@example.test", notify: "FAILURE")])
        XCTAssertEqual(envelope.body, "8BITMIME")
        XCTAssertEqual(envelope.dsnReturn, "FULL")
        XCTAssertEqual(envelope.dsnEnvelopeID, "e1")
        XCTAssertEqual(envelope.helo, "client.test")
        XCTAssertEqual(envelope.receivedProtocol, "ESMTP")
        XCTAssertEqual(envelope.peerAddress, "192.0.2.9")
        let header = String(buffer: parts[0])
        XCTAssertTrue(
            header.hasPrefix(
                """
                Received: from client.test ([192.0.2.9])\r\n\tby mx.test (Impulse) with ESMTP id \
                \(envelope.id)\r\n\tfor <u@example.test>; 
                """
            ), header)
        XCTAssertTrue(header.hasSuffix(" +0000\r\n"))
        XCTAssertEqual(String(buffer: parts[1]), "Hi\r\n")
        XCTAssertEqual(code(send(&session, "NOOP")), 503, "nothing is processed while spooling")
        XCTAssertEqual(
            session.spoolCompleted(success: true), .reply(SMTPReply(250, "2.0.0", "Ok: queued as \(envelope.id)")))
        XCTAssertEqual(code(send(&session, "MAIL FROM:<>")), 250, "a new transaction may start")
    }

    func testSpoolFailureAnswers451AndKeepsTheSessionUsable() {
        var session = machine()
        _ = send(&session, "EHLO c")
        _ = send(&session, "MAIL FROM:<a@b.test>")
        _ = send(&session, "RCPT TO:<u@example.test>")
        _ = send(&session, "DATA")
        _ = session.dataCompleted(
            ByteBuffer(string: "x\r\n"),
            .init(size: 3, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false))
        XCTAssertEqual(
            session.spoolCompleted(success: false),
            .reply(SMTPReply(451, "4.3.0", "Requested action aborted: local error in processing")))
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test>")), 250)
    }

    func testSequenceErrors() {
        var session = machine()
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test>")), 503)
        XCTAssertEqual(code(send(&session, "RCPT TO:<u@example.test>")), 503)
        XCTAssertEqual(code(send(&session, "DATA")), 503)
        _ = send(&session, "HELO c")
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test> SIZE=10")), 555, "no parameters after HELO")
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test>")), 250)
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test>")), 503)
        XCTAssertEqual(code(send(&session, "DATA")), 554, "no valid recipients")
        XCTAssertEqual(code(send(&session, "RSET")), 250)
        XCTAssertEqual(code(send(&session, "RCPT TO:<u@example.test>")), 503)
        XCTAssertEqual(code(send(&session, "VRFY u")), 252)
        XCTAssertEqual(code(send(&session, "EXPN list")), 502)
        XCTAssertEqual(code(send(&session, "STARTTLS")), 502)
        XCTAssertEqual(send(&session, "QUIT"), .replyAndClose(SMTPReply(221, "2.0.0", "mx.test Bye")))
    }

    func testRelayControl() {
        var outsider = machine()
        _ = send(&outsider, "EHLO c")
        _ = send(&outsider, "MAIL FROM:<a@b.test>")
        XCTAssertEqual(
            send(&outsider, "RCPT TO:<u@elsewhere.test>"),
            .reply(SMTPReply(550, "5.7.1", "<u@elsewhere.test>: Relay access denied")))
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<u@EXAMPLE.test>")), 250)
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<u%elsewhere.test@example.test>")), 550, "%-hack")
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<elsewhere.test!u@example.test>")), 550, "bang path")
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<\"u@elsewhere.test\"@example.test>")), 550, "quoted @")
        XCTAssertEqual(
            code(send(&outsider, "RCPT TO:<@example.test:u@elsewhere.test>")), 550, "source route to elsewhere")
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<@elsewhere.test:u@example.test>")), 550, "source route")
        // RFC 5321 §4.5.1: <Postmaster> (any case, no domain) is accepted from anyone.
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<postmaster>")), 250)
        XCTAssertEqual(code(send(&outsider, "RCPT TO:<PostMaster>")), 250)

        var trusted = machine(relayHosts: ["192.0.2.0/24"], relayDomains: [])
        _ = send(&trusted, "EHLO c")
        _ = send(&trusted, "MAIL FROM:<a@b.test>")
        XCTAssertEqual(code(send(&trusted, "RCPT TO:<u@anywhere.test>")), 250)

        var noConfig = machine(relayDomains: [])
        _ = send(&noConfig, "EHLO c")
        _ = send(&noConfig, "MAIL FROM:<a@b.test>")
        XCTAssertEqual(code(send(&noConfig, "RCPT TO:<u@example.test>")), 550, "no open relay by default")
        XCTAssertEqual(code(send(&noConfig, "RCPT TO:<Postmaster>")), 250, "postmaster needs no relay permission")
    }

    func testTenThousandRecipientsAreBoundedByTheLimit() {
        var session = machine(relayHosts: ["0.0.0.0/0"]) {
            $0.limits.maxRecipientsPerMessage = 1000
            $0.limits.maxErrorsPerSession = 100_000
        }
        _ = send(&session, "EHLO c")
        _ = send(&session, "MAIL FROM:<a@b.test>")
        var accepted = 0
        var deferred = 0
        for index in 0..<10_000 {
            switch code(send(&session, "RCPT TO:<user\(index)@example.test>")) {
            case 250: accepted += 1
            case 452: deferred += 1
            default: XCTFail("unexpected reply")
            }
        }
        XCTAssertEqual(accepted, 1000)
        XCTAssertEqual(deferred, 9000)
        XCTAssertEqual(code(send(&session, "DATA")), 354)
    }

    func testTooManyErrorsClosesWithOne421() {
        var session = machine { $0.limits.maxErrorsPerSession = 3 }
        XCTAssertEqual(code(send(&session, "BOGUS")), 500)
        XCTAssertEqual(code(send(&session, "BOGUS")), 500)
        guard case .replyAndClose(let reply) = send(&session, "BOGUS") else { return XCTFail() }
        XCTAssertEqual(reply.code, 421)
    }

    func testRejectedMessageContent() {
        var session = machine { $0.limits.maxMessageSize = 10 }
        func open() {
            _ = send(&session, "MAIL FROM:<a@b.test>")
            _ = send(&session, "RCPT TO:<u@example.test>")
            _ = send(&session, "DATA")
        }
        _ = send(&session, "EHLO c")
        open()
        XCTAssertEqual(
            code(
                session.dataCompleted(
                    ByteBuffer(),
                    .init(size: 11, exceededSize: true, sawBareCR: false, sawBareLF: false, sawLongLine: false))), 552)
        open()
        XCTAssertEqual(
            code(
                session.dataCompleted(
                    ByteBuffer(),
                    .init(size: 5, exceededSize: false, sawBareCR: false, sawBareLF: true, sawLongLine: false))), 554)
        open()
        XCTAssertEqual(
            code(
                session.dataCompleted(
                    ByteBuffer(),
                    .init(size: 5, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: true))), 554)
        XCTAssertEqual(code(send(&session, "RCPT TO:<u@example.test>")), 503, "a rejected message ends the transaction")
    }

    func testBDATChunksAndRefusedChunksAreStillRead() {
        var session = machine { $0.limits.maxMessageSize = 100 }
        XCTAssertEqual(send(&session, "BDAT 5"), .readChunk(size: 5, store: false))
        XCTAssertEqual(session.chunkCompleted(message: nil), .reply(SMTPReply(503, "5.5.1", "BDAT requires EHLO")))
        _ = send(&session, "EHLO c")
        XCTAssertEqual(send(&session, "BDAT 7"), .readChunk(size: 7, store: false))
        XCTAssertEqual(code(session.chunkCompleted(message: nil)), 503)
        _ = send(&session, "MAIL FROM:<a@b.test>")
        _ = send(&session, "RCPT TO:<u@example.test>")
        XCTAssertEqual(send(&session, "BDAT 60"), .readChunk(size: 60, store: true))
        XCTAssertEqual(
            session.chunkCompleted(message: ByteBuffer()), .reply(SMTPReply(250, "2.0.0", "60 octets received")))
        XCTAssertEqual(code(send(&session, "DATA")), 503, "DATA cannot follow BDAT")
        XCTAssertEqual(
            send(&session, "BDAT 60 LAST"), .readChunk(size: 60, store: false), "over the size limit: read, not kept")
        XCTAssertEqual(code(session.chunkCompleted(message: nil)), 552)
        _ = send(&session, "MAIL FROM:<a@b.test>")
        _ = send(&session, "RCPT TO:<u@example.test>")
        XCTAssertEqual(send(&session, "BDAT 0 LAST"), .readChunk(size: 0, store: true))
        guard case .spool(let envelope, _) = session.chunkCompleted(message: ByteBuffer()) else { return XCTFail() }
        XCTAssertEqual(envelope.recipients.count, 1)
        XCTAssertEqual(code(session.spoolCompleted(success: true)), 250)
        guard case .replyAndClose(let reply) = send(&session, "BDAT x") else {
            return XCTFail("an unparseable BDAT desynchronises the stream")
        }
        XCTAssertEqual(reply.code, 554)
    }

    func testSTARTTLSResetsTheSession() {
        var session = machine(tls: true)
        XCTAssertEqual(code(send(&session, "STARTTLS")), 503, "EHLO first")
        guard case .reply(let ehlo) = send(&session, "EHLO c") else { return XCTFail() }
        XCTAssertTrue(ehlo.lines.contains("STARTTLS"))
        _ = send(&session, "MAIL FROM:<a@b.test>")
        XCTAssertEqual(code(send(&session, "STARTTLS")), 503, "not inside a transaction")
        _ = send(&session, "RSET")
        XCTAssertEqual(code(send(&session, "STARTTLS")), 220)
        session.tlsEstablished(description: "TLSv1.3")
        XCTAssertEqual(code(send(&session, "MAIL FROM:<a@b.test>")), 503, "EHLO again after TLS")
        guard case .reply(let second) = send(&session, "EHLO c") else { return XCTFail() }
        XCTAssertFalse(second.lines.contains("STARTTLS"))
        XCTAssertEqual(code(send(&session, "STARTTLS")), 503)
        _ = send(&session, "MAIL FROM:<a@b.test> SMTPUTF8")
        _ = send(&session, "RCPT TO:<josé@example.test>")
        _ = send(&session, "DATA")
        guard
            case .spool(let envelope, _) = session.dataCompleted(
                ByteBuffer(),
                .init(size: 0, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false))
        else { return XCTFail() }
        XCTAssertEqual(envelope.receivedProtocol, "UTF8SMTPS")
        XCTAssertEqual(envelope.tls, "TLSv1.3")
        XCTAssertEqual(envelope.recipients.first?.address, "josé@example.test")
    }

    func testDrainingLetsTheTransactionFinish() {
        var idle = machine()
        XCTAssertEqual(idle.beginDraining()?.code, 421)

        var busy = machine()
        _ = send(&busy, "EHLO c")
        _ = send(&busy, "MAIL FROM:<a@b.test>")
        XCTAssertNil(busy.beginDraining())
        XCTAssertEqual(code(send(&busy, "RCPT TO:<u@example.test>")), 250)
        _ = send(&busy, "DATA")
        _ = busy.dataCompleted(
            ByteBuffer(), .init(size: 0, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false))
        guard case .replyAndClose(let reply) = busy.spoolCompleted(success: true) else { return XCTFail() }
        XCTAssertEqual(reply.code, 250)
    }

    func testNullSenderPolicyAndReceptionLimit() {
        var session = machine {
            $0.allowNullEnvelopeSender = false
            $0.limits.maxReceptionsPerConnection = 1
        }
        _ = send(&session, "EHLO c")
        XCTAssertEqual(code(send(&session, "MAIL FROM:<>")), 550)
        _ = send(&session, "MAIL FROM:<a@b.test>")
        _ = send(&session, "RCPT TO:<u@example.test>")
        _ = send(&session, "DATA")
        _ = session.dataCompleted(
            ByteBuffer(), .init(size: 0, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false))
        _ = session.spoolCompleted(success: true)
        guard case .replyAndClose(let reply) = send(&session, "MAIL FROM:<a@b.test>") else { return XCTFail() }
        XCTAssertEqual(reply.code, 421)
    }
}

final class ReceptionMemoryBudgetTests: XCTestCase {
    func testChargesUpToTheLimitAndReleases() {
        let budget = ReceptionMemoryBudget(limit: 100)
        XCTAssertTrue(budget.charge(60))
        XCTAssertFalse(budget.charge(41))
        XCTAssertEqual(budget.inUse, 60)
        XCTAssertTrue(budget.charge(40))
        budget.release(60)
        XCTAssertEqual(budget.inUse, 40)
        DispatchQueue.concurrentPerform(iterations: 1000) { _ in
            if budget.charge(1) { budget.release(1) }
        }
        XCTAssertEqual(budget.inUse, 40)
    }

    func testAbandonedMessageIsRefusedWith452() {
        var policy = InboundPolicy()
        policy.relayDomains = [DomainPattern("example.test")]
        var session = SMTPSessionStateMachine(
            policy: policy, hostname: "mx.test", clientAddress: IPAddress("192.0.2.9")!, clientPort: 1,
            listener: "l", tlsAvailable: false, tlsActive: false, idGenerator: MessageIDGenerator())
        for line in ["EHLO c", "MAIL FROM:<a@b.test>", "RCPT TO:<u@example.test>", "DATA"] {
            _ = session.receive(line: ByteBuffer(string: line))
        }
        XCTAssertEqual(
            session.dataCompleted(
                ByteBuffer(),
                .init(
                    size: 9, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false,
                    abandoned: true)),
            .reply(SMTPReply(452, "4.3.1", "Insufficient system storage, try again later")))
    }
}

final class SessionPolicyTests: XCTestCase {
    func machine(_ callouts: Set<Callout>) -> SMTPSessionStateMachine {
        var policy = InboundPolicy()
        policy.relayDomains = [DomainPattern("example.test")]
        return SMTPSessionStateMachine(
            policy: policy, hostname: "mx.test", clientAddress: IPAddress("192.0.2.9")!, clientPort: 1,
            listener: "l", tlsAvailable: false, tlsActive: false, idGenerator: MessageIDGenerator(),
            policyCallouts: callouts)
    }

    /// Connect and message phases are consulted only when implemented; EHLO, MAIL and RCPT always
    /// go through the policy state when one is loaded, so their context keys are set.
    func testCommandPhasesAlwaysCarryTheirContextKeys() {
        var session = machine([.mailFrom])
        XCTAssertEqual(session.start(), .reply(session.greeting()))
        guard case .consult(.ehlo, "c", let helloContext, false) = session.receive(line: ByteBuffer(string: "EHLO c"))
        else { return XCTFail() }
        XCTAssertTrue(helloContext.contains(PolicyContextUpdate(message: false, key: "ehlo_string", value: "c")))
        guard case .reply(let ehlo) = session.policyDecided(.proceed) else { return XCTFail() }
        XCTAssertEqual(ehlo.code, 250)
        guard
            case .consult(.mailFrom, let text, let context, true) = session.receive(
                line: ByteBuffer(string: "MAIL FROM:<a@b.test> SIZE=10"))
        else {
            return XCTFail()
        }
        XCTAssertEqual(text, "MAIL FROM:<a@b.test> SIZE=10")
        XCTAssertTrue(context.contains(PolicyContextUpdate(message: true, key: "mailfrom_domain", value: "b.test")))
        XCTAssertEqual(
            session.policyDecided(.reply(code: 550, text: "5.7.1 sender refused by policy")),
            .reply(SMTPReply(550, "5.7.1", "sender refused by policy")))
        XCTAssertEqual(
            session.receive(line: ByteBuffer(string: "RCPT TO:<x@example.test>")),
            .reply(SMTPReply(503, "5.5.1", "Error: need MAIL command")))
        _ = session.receive(line: ByteBuffer(string: "MAIL FROM:<a@b.test>"))
        XCTAssertEqual(session.policyDecided(.proceed), .reply(SMTPReply(250, "2.1.0", "Ok")))
        guard
            case .consult(.rcptTo, _, let recipientContext, false) = session.receive(
                line: ByteBuffer(string: "RCPT TO:<x@example.test>"))
        else {
            return XCTFail()
        }
        XCTAssertTrue(
            recipientContext.contains(PolicyContextUpdate(message: true, key: "message_rcpt_count", value: "1")))
        XCTAssertEqual(session.policyDecided(.proceed), .reply(SMTPReply(250, "2.1.5", "Ok")))
        _ = session.receive(line: ByteBuffer(string: "DATA"))
        let done = DotStuffedDataDecoder.Result(
            size: 1, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false)
        guard case .spool = session.dataCompleted(ByteBuffer(string: "x"), done) else {
            return XCTFail("no message-phase callout to run")
        }
    }

    func testFailuresAndDisconnects() {
        var session = machine([.connect, .ehlo, .rcptTo, .data, .dataSpoolEachRcpt])
        guard case .consult(.connect, _, _, _) = session.start() else { return XCTFail() }
        XCTAssertEqual(session.policyDecided(.proceed), .reply(session.greeting()))
        guard case .consult(.ehlo, "c", _, _) = session.receive(line: ByteBuffer(string: "EHLO c")) else {
            return XCTFail()
        }
        XCTAssertEqual(
            session.policyDecided(
                .failed(ScriptletFailure(module: "m", script: "s.lua", callout: "validate_ehlo", message: "boom"))),
            .reply(SMTPReply(451, "4.3.0", "Requested action aborted: local error in processing")))
        _ = session.receive(line: ByteBuffer(string: "EHLO c"))
        guard case .reply(let ehlo) = session.policyDecided(.proceed) else { return XCTFail() }
        XCTAssertEqual(ehlo.code, 250)
        guard case .consult(.mailFrom, _, _, true) = session.receive(line: ByteBuffer(string: "MAIL FROM:<a@b.test>"))
        else {
            return XCTFail("with a policy, MAIL always starts a new message context")
        }
        _ = session.policyDecided(.proceed)
        _ = session.receive(line: ByteBuffer(string: "RCPT TO:<x@example.test>"))
        _ = session.policyDecided(.proceed)
        _ = session.receive(line: ByteBuffer(string: "RCPT TO:<y@example.test>"))
        _ = session.policyDecided(.proceed)
        _ = session.receive(line: ByteBuffer(string: "DATA"))
        let done = DotStuffedDataDecoder.Result(
            size: 1, exceededSize: false, sawBareCR: false, sawBareLF: false, sawLongLine: false)
        guard case .consult(.data, _, _, _) = session.dataCompleted(ByteBuffer(string: "x"), done) else {
            return XCTFail()
        }
        guard case .consult(.dataSpoolEachRcpt, _, let first, _) = session.policyDecided(.proceed) else {
            return XCTFail()
        }
        XCTAssertTrue(
            first.contains(PolicyContextUpdate(message: true, key: "rcptto_address", value: "x@example.test")))
        guard case .consult(.dataSpoolEachRcpt, _, let second, _) = session.policyDecided(.proceed) else {
            return XCTFail()
        }
        XCTAssertTrue(
            second.contains(PolicyContextUpdate(message: true, key: "rcptto_address", value: "y@example.test")))
        guard case .spool = session.policyDecided(.proceed) else { return XCTFail("spooled only after every callout") }
        _ = session.spoolCompleted(success: true)
        guard case .consult(.mailFrom, _, _, true) = session.receive(line: ByteBuffer(string: "MAIL FROM:<a@b.test>"))
        else {
            return XCTFail("with a policy, MAIL always starts a new message context")
        }
        _ = session.policyDecided(.proceed)
        _ = session.receive(line: ByteBuffer(string: "RCPT TO:<x@example.test>"))
        XCTAssertEqual(
            session.policyDecided(.disconnect(code: 421, text: "bye")), .replyAndClose(SMTPReply(421, "4.0.0", "bye")))
    }

    func testPolicyReplyText() {
        XCTAssertEqual(
            SMTPSessionStateMachine.policyReply(code: 550, text: "5.7.1 no", fallback: "x"),
            SMTPReply(550, "5.7.1", "no"))
        XCTAssertEqual(
            SMTPSessionStateMachine.policyReply(code: 550, text: "4.7.1 mismatched class", fallback: "x"),
            SMTPReply(550, "5.0.0", "4.7.1 mismatched class"))
        XCTAssertEqual(
            SMTPSessionStateMachine.policyReply(code: 451, text: "line\r\nbreak", fallback: "x"),
            SMTPReply(451, "4.0.0", "line  break"))
        XCTAssertEqual(
            SMTPSessionStateMachine.policyReply(code: 9999, text: nil, fallback: "Rejected by policy"),
            SMTPReply(550, "5.0.0", "Rejected by policy"))
    }
}
