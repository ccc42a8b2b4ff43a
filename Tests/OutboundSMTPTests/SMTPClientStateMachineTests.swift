import XCTest

@testable import OutboundSMTP

final class SMTPClientStateMachineTests: XCTestCase {
    func reply(_ text: String) throws -> SMTPServerReply {
        var parser = SMTPReplyParser()
        var result: SMTPServerReply?
        for line in text.split(separator: "\n") { result = try parser.feed(line) }
        return try XCTUnwrap(result)
    }

    let envelope = SMTPClientStateMachine.Envelope(
        mailFrom: "a@source.test",
        recipients: [
            .init(address: "x@dest.test", notify: "SUCCESS,FAILURE", originalRecipient: "rfc822;x@dest.test"),
            .init(address: "y@dest.test")
        ],
        size: 1234, eightBit: true, dsnReturn: "HDRS", dsnEnvelopeID: "QQ314159")

    func testPipelinedTransactionWithExtensionsAndMixedRecipients() throws {
        var machine = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .off)
        XCTAssertEqual(machine.received(try reply("220 sink ESMTP")), .send(["EHLO mx.test"]))
        XCTAssertEqual(
            machine.received(try reply("250-sink\n250-PIPELINING\n250-SIZE 10000\n250-8BITMIME\n250 DSN")),
            .send([
                "MAIL FROM:<a@source.test> SIZE=1234 BODY=8BITMIME RET=HDRS ENVID=QQ314159",
                "RCPT TO:<x@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@dest.test",
                "RCPT TO:<y@dest.test>", "DATA"
            ]))
        XCTAssertEqual(machine.received(try reply("250 2.1.0 ok")), .wait)
        XCTAssertEqual(machine.received(try reply("250 2.1.5 ok")), .wait)
        XCTAssertEqual(machine.received(try reply("550 5.1.1 no such user")), .wait)
        XCTAssertEqual(machine.received(try reply("354 go ahead")), .sendMessage)
        let done = try reply("250 2.0.0 queued as 42")
        XCTAssertEqual(
            machine.received(done),
            .finished([.delivered(done), .permanent("RCPT TO: 550 5.1.1 no such user")], quit: true))
    }

    /// LMTP (RFC 2033): LHLO (no HELO fallback), and one reply to the message per accepted
    /// recipient, each deciding that recipient; a connection lost midway keeps what was said.
    func testLMTPRepliesPerRecipient() throws {
        let three = SMTPClientStateMachine.Envelope(
            mailFrom: "a@source.test",
            recipients: [.init(address: "x@dest.test"), .init(address: "y@dest.test"), .init(address: "z@dest.test")],
            size: 10)
        var machine = SMTPClientStateMachine(envelope: three, heloName: "mx.test", tlsPolicy: .off, lmtp: true)
        XCTAssertEqual(machine.received(try reply("220 lmtp")), .send(["LHLO mx.test"]))
        _ = machine.received(try reply("250-lmtp\n250 PIPELINING"))
        XCTAssertEqual(machine.received(try reply("250 ok")), .wait)
        XCTAssertEqual(machine.received(try reply("250 ok")), .wait)
        XCTAssertEqual(machine.received(try reply("550 5.1.1 unknown")), .wait)
        XCTAssertEqual(machine.received(try reply("250 ok")), .wait)
        XCTAssertEqual(machine.received(try reply("354 go")), .sendMessage)
        let saved = try reply("250 2.0.0 <x@dest.test> saved")
        var lost = machine
        XCTAssertEqual(machine.received(saved), .wait, "one reply per accepted recipient")
        _ = lost.received(saved)
        XCTAssertEqual(
            lost.connectionLost("gone"),
            [.delivered(saved), .permanent("RCPT TO: 550 5.1.1 unknown"), .transient("gone")],
            "a recipient the server already took is not sent again")
        XCTAssertEqual(
            machine.received(try reply("452 4.2.2 <z@dest.test> mailbox full")),
            .finished(
                [
                    .delivered(saved), .permanent("RCPT TO: 550 5.1.1 unknown"),
                    .transient("end of data: 452 4.2.2 <z@dest.test> mailbox full")
                ], quit: true))
        var refused = SMTPClientStateMachine(envelope: three, heloName: "mx.test", tlsPolicy: .off, lmtp: true)
        _ = refused.received(try reply("220 lmtp"))
        XCTAssertEqual(
            refused.received(try reply("500 5.5.1 unknown command")),
            .finished(Array(repeating: .permanent("LHLO: 500 5.5.1 unknown command"), count: 3), quit: true))
    }

    /// Connection reuse (RFC 5321 §3.3): the next transaction follows a finished one at once; one
    /// that left MAIL accepted without a message is cleared with RSET first; a 421 ends reuse.
    func testAnotherTransactionOnTheSameConnection() throws {
        let first = SMTPClientStateMachine.Envelope(
            mailFrom: "a@source.test", recipients: [.init(address: "x@dest.test")], size: 10)
        let second = SMTPClientStateMachine.Envelope(
            mailFrom: "b@source.test", recipients: [.init(address: "y@dest.test")], size: 10)
        var machine = SMTPClientStateMachine(envelope: first, heloName: "mx.test", tlsPolicy: .off)
        _ = machine.received(try reply("220 sink"))
        XCTAssertEqual(machine.received(try reply("250 sink")), .send(["MAIL FROM:<a@source.test>"]))
        XCTAssertEqual(machine.stageCode, 2)
        _ = machine.received(try reply("250 ok"))
        XCTAssertEqual(machine.stageCode, 4)
        XCTAssertEqual(
            machine.received(try reply("550 5.1.1 unknown")),
            .finished([.permanent("RCPT TO: 550 5.1.1 unknown")], quit: true))
        XCTAssertTrue(machine.canStartAnotherTransaction)
        XCTAssertEqual(machine.nextTransaction(second), .send(["RSET"]), "MAIL was accepted: reset first")
        XCTAssertEqual(machine.received(try reply("250 reset")), .send(["MAIL FROM:<b@source.test>"]))
        _ = machine.received(try reply("250 ok"))
        XCTAssertEqual(machine.received(try reply("250 ok")), .send(["DATA"]))
        XCTAssertEqual(machine.received(try reply("354 go")), .sendMessage)
        XCTAssertEqual(machine.stageCode, 9)
        let done = try reply("250 queued")
        XCTAssertEqual(machine.received(done), .finished([.delivered(done)], quit: true))
        XCTAssertTrue(machine.canStartAnotherTransaction)
        XCTAssertEqual(
            machine.nextTransaction(first), .send(["MAIL FROM:<a@source.test>"]), "a delivered message needs no RSET")
        _ = machine.received(try reply("250 ok"))
        _ = machine.received(try reply("250 ok"))
        XCTAssertEqual(
            machine.received(try reply("421 4.3.2 shutting down")),
            .finished([.transient("DATA: 421 4.3.2 shutting down")], quit: true))
        XCTAssertFalse(machine.canStartAnotherTransaction, "no reuse after 421")
    }

    func testANextHopWithOurOwnNameIsAMailLoop() throws {
        var machine = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .off)
        _ = machine.received(try reply("220 mx.test ESMTP"))
        guard
            case .finished(let outcomes, quit: true) = machine.received(try reply("250-MX.test hello\n250 PIPELINING"))
        else {
            return XCTFail("expected the transaction to end")
        }
        XCTAssertEqual(
            outcomes,
            [.permanent("554 5.4.6 mail loops back to myself (the next hop says EHLO as mx.test)")] + [
                .permanent("554 5.4.6 mail loops back to myself (the next hop says EHLO as mx.test)")
            ])
    }

    func testWithoutPipeliningOneCommandAtATimeAndHeloFallback() throws {
        let single = SMTPClientStateMachine.Envelope(
            mailFrom: "", recipients: [.init(address: "x@dest.test", notify: "NEVER")], size: 10)
        var machine = SMTPClientStateMachine(envelope: single, heloName: "mx.test", tlsPolicy: .opportunistic)
        _ = machine.received(try reply("220 old"))
        XCTAssertEqual(machine.received(try reply("502 what")), .send(["HELO mx.test"]))
        XCTAssertEqual(machine.received(try reply("250 hello")), .send(["MAIL FROM:<>"]))
        XCTAssertEqual(
            machine.received(try reply("250 ok")), .send(["RCPT TO:<x@dest.test>"]), "no DSN parameters without DSN")
        XCTAssertEqual(machine.received(try reply("250 ok")), .send(["DATA"]))
        XCTAssertEqual(machine.received(try reply("354 go")), .sendMessage)
        XCTAssertEqual(
            machine.received(try reply("451 4.3.0 try later")),
            .finished([.transient("end of data: 451 4.3.0 try later")], quit: true))
    }

    func testStartTLSOpportunisticAndRequired() throws {
        var machine = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .opportunistic)
        _ = machine.received(try reply("220 sink"))
        XCTAssertEqual(machine.received(try reply("250-sink\n250 STARTTLS")), .send(["STARTTLS"]))
        XCTAssertEqual(machine.received(try reply("220 ready")), .startTLS)
        XCTAssertEqual(machine.tlsEstablished(), .send(["EHLO mx.test"]))
        XCTAssertEqual(
            machine.received(try reply("250 sink")), .send(["MAIL FROM:<a@source.test>"]), "no STARTTLS twice")

        var required = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .required)
        _ = required.received(try reply("220 sink"))
        guard case .finished(let outcomes, true) = required.received(try reply("250-sink\n250 PIPELINING")) else {
            return XCTFail()
        }
        XCTAssertEqual(outcomes.count, 2)
        guard case .transient(let why) = outcomes[0] else { return XCTFail() }
        XCTAssertTrue(why.contains("STARTTLS"))
    }

    func testSMTPUTF8SizeAndRefusals() throws {
        var utf8 = SMTPClientStateMachine(
            envelope: .init(
                mailFrom: "ü@source.test", recipients: [.init(address: "x@dest.test")],
                size: 10, needsSMTPUTF8: true), heloName: "mx.test", tlsPolicy: .off)
        _ = utf8.received(try reply("220 sink"))
        guard case .finished(let outcomes, _) = utf8.received(try reply("250 sink")),
            case .permanent(let why) = outcomes[0]
        else { return XCTFail() }
        XCTAssertTrue(why.contains("SMTPUTF8"))

        var big = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .off)
        _ = big.received(try reply("220 sink"))
        guard case .finished(let sized, _) = big.received(try reply("250-sink\n250 SIZE 1000")),
            case .permanent = sized[0]
        else { return XCTFail() }

        var refused = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .off)
        XCTAssertEqual(
            refused.received(try reply("554 go away")),
            .finished([.permanent("greeting: 554 go away"), .permanent("greeting: 554 go away")], quit: true))

        var allRefused = SMTPClientStateMachine(envelope: envelope, heloName: "mx.test", tlsPolicy: .off)
        _ = allRefused.received(try reply("220 sink"))
        _ = allRefused.received(try reply("250-sink\n250 PIPELINING"))
        _ = allRefused.received(try reply("250 ok"))
        _ = allRefused.received(try reply("450 busy"))
        _ = allRefused.received(try reply("550 no"))
        XCTAssertEqual(
            allRefused.received(try reply("354 go")), .send(["."]), "an empty message ends the pipelined DATA")
        XCTAssertEqual(
            allRefused.received(try reply("554 no valid recipients")),
            .finished([.transient("RCPT TO: 450 busy"), .permanent("RCPT TO: 550 no")], quit: true))
        XCTAssertEqual(
            allRefused.connectionLost("reset"), [.transient("RCPT TO: 450 busy"), .permanent("RCPT TO: 550 no")])
    }

    func testReplyParserBoundsAndEnhancedCodes() throws {
        var parser = SMTPReplyParser()
        XCTAssertNil(try parser.feed("250-first"))
        let done = try XCTUnwrap(try parser.feed("250 2.0.0 second"))
        XCTAssertEqual(done.lines, ["first", "2.0.0 second"])
        XCTAssertNil(done.enhancedCode, "the enhanced code is read from the first line")
        XCTAssertEqual(try parser.feed("550 5.7.1 refused")?.enhancedCode, "5.7.1")
        XCTAssertNil(try parser.feed("550 4.7.1 mismatched class")?.enhancedCode)
        XCTAssertEqual(try parser.feed("250")?.lines, [""])
        XCTAssertThrowsError(try parser.feed("hello"))
        var changing = SMTPReplyParser()
        _ = try changing.feed("250-a")
        XCTAssertThrowsError(try changing.feed("251 b"))
        var long = SMTPReplyParser()
        long.maxLines = 3
        _ = try long.feed("250-a")
        _ = try long.feed("250-b")
        _ = try long.feed("250-c")
        XCTAssertThrowsError(try long.feed("250-d"))
        var fresh = SMTPReplyParser()
        XCTAssertThrowsError(try fresh.feed(Substring("250 " + String(repeating: "x", count: 5000))))
    }

    func testDotStuffingNeverPutsABareCROrLFOnTheWire() {
        let encoded = DotStuffedDataEncoder.encode(
            Array("Subject: x\r\n\r\n.leading dot\nbare lf\rbare cr\r\n..two\r\nend".utf8))
        XCTAssertEqual(
            String(decoding: encoded, as: UTF8.self),
            "Subject: x\r\n\r\n..leading dot\r\nbare lf\r\nbare cr\r\n...two\r\nend\r\n.\r\n")
        XCTAssertEqual(DotStuffedDataEncoder.encode([UInt8]()), Array(".\r\n".utf8))
        XCTAssertEqual(DotStuffedDataEncoder.encode(Array(".\r\n".utf8)), Array("..\r\n.\r\n".utf8))
        // Every CR is followed by LF and every LF preceded by CR.
        let wire = DotStuffedDataEncoder.encode(Array("a\r\rb\n\nc\r".utf8))
        for (index, byte) in wire.enumerated() {
            if byte == 0x0D { XCTAssertEqual(wire[index + 1], 0x0A) }
            if byte == 0x0A { XCTAssertEqual(wire[index - 1], 0x0D) }
        }
    }

    /// Encoding a message piece by piece gives the same octets wherever it is cut (a CR at the
    /// end of one piece and its LF at the start of the next, a dot after a cut, …).
    func testTheStreamingEncoderMatchesTheWholeMessageAtEveryCut() {
        let message = Array(".a\r\n.b\r\rc\n\n.\r\nd\r\n..e\rf".utf8)
        let whole = DotStuffedDataEncoder.encode(message)
        for first in 0...message.count {
            for second in first...message.count {
                var stream = DotStuffedDataEncoder.Stream()
                var out: [UInt8] = []
                for range in [0..<first, first..<second, second..<message.count] {
                    message[range].withUnsafeBufferPointer { stream.encode($0, into: &out) }
                }
                stream.finish(into: &out)
                XCTAssertEqual(out, whole, "cut at \(first) and \(second)")
            }
        }
    }

    /// AUTH to a smart host (RFC 4954): PLAIN after TLS, LOGIN in steps, never without TLS unless
    /// allowed, and a refused AUTH is a temporary failure.
    func testOutboundAuth() throws {
        let single = SMTPClientStateMachine.Envelope(
            mailFrom: "a@source.test", recipients: [.init(address: "x@dest.test")], size: 10)
        var plain = SMTPClientStateMachine(envelope: single, heloName: "mx.test", tlsPolicy: .required)
        plain.credentials = .init(user: "u", password: "p", mechanism: "PLAIN", withoutTLS: false)
        _ = plain.received(try reply("220 relay"))
        XCTAssertEqual(plain.received(try reply("250-relay\n250-STARTTLS\n250 AUTH PLAIN LOGIN")), .send(["STARTTLS"]))
        XCTAssertEqual(plain.received(try reply("220 go")), .startTLS)
        XCTAssertEqual(plain.tlsEstablished(), .send(["EHLO mx.test"]))
        XCTAssertEqual(plain.received(try reply("250-relay\n250 AUTH PLAIN LOGIN")), .send(["AUTH PLAIN AHUAcA=="]))
        XCTAssertEqual(plain.received(try reply("235 2.7.0 ok")), .send(["MAIL FROM:<a@source.test>"]))
        XCTAssertTrue(plain.authenticated)

        var login = SMTPClientStateMachine(envelope: single, heloName: "mx.test", tlsPolicy: .off)
        login.credentials = .init(user: "user", password: "pw", mechanism: "LOGIN", withoutTLS: true)
        _ = login.received(try reply("220 relay"))
        XCTAssertEqual(login.received(try reply("250-relay\n250 AUTH LOGIN")), .send(["AUTH LOGIN"]))
        XCTAssertEqual(login.received(try reply("334 VXNlcm5hbWU6")), .send(["dXNlcg=="]))
        XCTAssertEqual(login.received(try reply("334 UGFzc3dvcmQ6")), .send(["cHc="]))
        XCTAssertEqual(
            login.received(try reply("535 5.7.8 no")),
            .finished([.transient("AUTH to the next hop failed: 535 5.7.8 no")], quit: true))

        var clear = SMTPClientStateMachine(envelope: single, heloName: "mx.test", tlsPolicy: .off)
        clear.credentials = .init(user: "u", password: "p", mechanism: "PLAIN", withoutTLS: false)
        _ = clear.received(try reply("220 relay"))
        guard case .finished(let outcomes, _) = clear.received(try reply("250-relay\n250 AUTH PLAIN")),
            case .transient(let why) = outcomes[0]
        else { return XCTFail("AUTH without TLS went ahead") }
        XCTAssertTrue(why.contains("needs TLS"), why)

        var unoffered = SMTPClientStateMachine(envelope: single, heloName: "mx.test", tlsPolicy: .off)
        unoffered.credentials = .init(user: "u", password: "p", mechanism: "LOGIN", withoutTLS: true)
        _ = unoffered.received(try reply("220 relay"))
        XCTAssertEqual(
            unoffered.received(try reply("250-relay\n250 AUTH PLAIN")),
            .finished([.transient("the next hop does not offer AUTH LOGIN (it offers: PLAIN)")], quit: true))
    }
}
