import Foundation
import ImpulseConfig
import NIOCore
import SMTPProtocol
import Spool
import XCTest

@testable import SMTPServer

/// SMTP AUTH in the session state machine (RFC 4954): what is offered when, each mechanism's
/// exchange, the reply codes, and relaying once authenticated. Credentials are checked by
/// PasswordCheck against a password file.
final class SMTPAuthTests: XCTestCase {
    let file = PasswordFile(
        path: "users",
        entries: ["alice": .clear("s3cret"), "bob": .hashed("$6$saltsalt$" + String(repeating: "x", count: 86))])

    func machine(tls: Bool = true, withoutTLS: Bool = false, required: Bool = false) -> SMTPSessionStateMachine {
        var policy = InboundPolicy()
        policy.relayDomains = [DomainPattern("example.test")]
        policy.smtpExtensions = ["AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-MD5"]
        for mechanism in SASLMechanism.allCases {
            policy.authBackends[mechanism] = AuthBackend(uri: "file://users", source: .file(file))
        }
        policy.authWithoutTLS = withoutTLS
        policy.authenticationRequired = required
        return SMTPSessionStateMachine(
            policy: policy, hostname: "mx.test", clientAddress: IPAddress("192.0.2.9")!, clientPort: 5000,
            listener: "127.0.0.1:587", tlsAvailable: true, tlsActive: tls, idGenerator: MessageIDGenerator())
    }

    func send(_ machine: inout SMTPSessionStateMachine, _ line: String) -> SMTPSessionStateMachine.Action {
        machine.receive(line: ByteBuffer(string: line))
    }

    func reply(_ action: SMTPSessionStateMachine.Action) -> String {
        switch action {
        case .reply(let reply), .replyAndClose(let reply):
            return "\(reply.code) \(reply.enhancedCode ?? "") \(reply.lines.joined(separator: "|"))"
        default: return "\(action)"
        }
    }

    /// Runs the credentials an exchange produced through the password file.
    func check(_ machine: inout SMTPSessionStateMachine, _ action: SMTPSessionStateMachine.Action) -> String {
        guard case .authenticate(let mechanism, let credentials) = action else { return reply(action) }
        return reply(machine.authenticationDecided(PasswordCheck.verify(credentials, in: file), mechanism: mechanism))
    }

    func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    func testOfferedOnlyUnderTLSUnlessAllowed() {
        var plain = machine(tls: false)
        guard case .reply(let ehlo) = send(&plain, "EHLO c.test") else { return XCTFail() }
        XCTAssertTrue(ehlo.lines.contains("AUTH CRAM-MD5"), "\(ehlo.lines)")
        XCTAssertEqual(
            reply(send(&plain, "AUTH PLAIN \(b64("\0alice\0s3cret"))")),
            "538 5.7.11 Encryption required for requested authentication mechanism")
        var allowed = machine(tls: false, withoutTLS: true)
        guard case .reply(let offered) = send(&allowed, "EHLO c.test") else { return XCTFail() }
        XCTAssertTrue(offered.lines.contains("AUTH PLAIN LOGIN CRAM-MD5"), "\(offered.lines)")
    }

    func testPlainWithAnInitialResponseAndRelaying() {
        var session = machine()
        _ = send(&session, "EHLO c.test")
        XCTAssertEqual(reply(send(&session, "RCPT TO:<x@elsewhere.test>")), "503 5.5.1 Error: need MAIL command")
        _ = send(&session, "MAIL FROM:<a@b.test>")
        XCTAssertTrue(reply(send(&session, "RCPT TO:<x@elsewhere.test>")).hasPrefix("550 5.7.1"))
        XCTAssertEqual(
            reply(send(&session, "AUTH PLAIN \(b64("\0alice\0s3cret"))")),
            "503 5.5.1 Error: AUTH is not permitted during a mail transaction")
        _ = send(&session, "RSET")
        XCTAssertEqual(
            check(&session, send(&session, "AUTH PLAIN \(b64("\0alice\0s3cret"))")),
            "235 2.7.0 Authentication successful")
        XCTAssertEqual(session.authenticatedUser, "alice")
        XCTAssertEqual(
            reply(send(&session, "AUTH PLAIN \(b64("\0alice\0s3cret"))")), "503 5.5.1 Error: already authenticated")
        _ = send(&session, "MAIL FROM:<a@b.test> AUTH=<>")
        XCTAssertEqual(
            reply(send(&session, "RCPT TO:<x@elsewhere.test>")), "250 2.1.5 Ok", "relaying once authenticated")
    }

    func testPlainWithoutAnInitialResponseAndCancelling() {
        var session = machine()
        _ = send(&session, "EHLO c.test")
        XCTAssertEqual(reply(send(&session, "AUTH PLAIN")), "334  ")
        XCTAssertEqual(reply(send(&session, "*")), "501 5.7.0 Authentication cancelled")
        XCTAssertEqual(reply(send(&session, "AUTH PLAIN")), "334  ")
        XCTAssertEqual(reply(send(&session, "not base64!")), "501 5.5.2 Cannot decode the response (base64 expected)")
        XCTAssertEqual(reply(send(&session, "AUTH PLAIN")), "334  ")
        XCTAssertEqual(
            check(&session, send(&session, b64("\0alice\0wrong"))), "535 5.7.8 Authentication credentials invalid")
        XCTAssertEqual(reply(send(&session, "AUTH GSSAPI")), "504 5.5.4 Unrecognized authentication mechanism")
    }

    func testLoginAndCramMD5() {
        var session = machine()
        _ = send(&session, "EHLO c.test")
        XCTAssertEqual(reply(send(&session, "AUTH LOGIN")), "334  VXNlcm5hbWU6")
        XCTAssertEqual(reply(send(&session, b64("alice"))), "334  UGFzc3dvcmQ6")
        XCTAssertEqual(check(&session, send(&session, b64("s3cret"))), "235 2.7.0 Authentication successful")

        var cram = machine(tls: false)
        _ = send(&cram, "EHLO c.test")
        guard case .reply(let challenge) = send(&cram, "AUTH CRAM-MD5"), challenge.code == 334,
            let decoded = Data(base64Encoded: challenge.lines[0]).map({ String(decoding: $0, as: UTF8.self) })
        else { return XCTFail() }
        XCTAssertTrue(decoded.hasPrefix("<") && decoded.hasSuffix("@mx.test>"), decoded)
        XCTAssertEqual(
            check(&cram, send(&cram, b64("alice " + String(repeating: "0", count: 32)))),
            "535 5.7.8 Authentication credentials invalid")
    }

    func testCramMD5AgainstAKnownDigestAndAHashedPassword() {
        // RFC 2195 §2's example: tim / tanstaaftanstaaf.
        let rfc = PasswordFile(path: "u", entries: ["tim": .clear("tanstaaftanstaaf"), "bob": .hashed("$y$x")])
        let challenge = "<1896.697170952@postoffice.reston.mci.net>"
        let good = SASLCredentials(
            user: "tim", authorizationID: "",
            proof: .cramMD5(challenge: challenge, digest: "b913a602c7eda7a495b4e6e7334d3890"))
        XCTAssertEqual(PasswordCheck.verify(good, in: rfc), .accepted(user: "tim"))
        let hashed = SASLCredentials(
            user: "bob", authorizationID: "",
            proof: .cramMD5(challenge: challenge, digest: "b913a602c7eda7a495b4e6e7334d3890"))
        XCTAssertEqual(PasswordCheck.verify(hashed, in: rfc), .rejected(tooWeak: true))
    }

    func testThreeFailuresCloseTheSessionAndRequiredAuthGates530() {
        var session = machine(required: true)
        _ = send(&session, "EHLO c.test")
        XCTAssertEqual(reply(send(&session, "MAIL FROM:<a@b.test>")), "530 5.7.0 Authentication required")
        for attempt in 1...3 {
            let answer = check(&session, send(&session, "AUTH PLAIN \(b64("\0alice\0no"))"))
            XCTAssertTrue(answer.hasPrefix(attempt < 3 ? "535" : "421"), answer)
        }
    }
}
