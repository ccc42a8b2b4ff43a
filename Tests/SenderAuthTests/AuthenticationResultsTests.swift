import XCTest

@testable import SenderAuth

final class AuthenticationResultsTests: XCTestCase {
    func testFieldsClaimingOurAuthservIDAreRemovedWithTheirContinuationLines() throws {
        let message = Array(
            ("Received: from x\r\nAuthentication-Results: MX.Example.Test;\r\n\tdkim=pass header.d=bank.example\r\n"
                + "Authentication-Results: other.example; spf=pass\r\nSubject: s\r\n\r\n"
                + "Authentication-Results: mx.example.test; in the body stays\r\n").utf8)
        let cleaned = try XCTUnwrap(AuthenticationResults.removingForged(message, authservID: "mx.example.test"))
        XCTAssertEqual(
            String(decoding: cleaned, as: UTF8.self),
            "Received: from x\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: s\r\n\r\n"
                + "Authentication-Results: mx.example.test; in the body stays\r\n")
        XCTAssertNil(AuthenticationResults.removingForged(cleaned, authservID: "mx.example.test"))
        // A longer id that starts with ours is somebody else's.
        let other = Array("Authentication-Results: mx.example.test.evil; dkim=pass\r\n\r\n".utf8)
        XCTAssertNil(AuthenticationResults.removingForged(other, authservID: "mx.example.test"))
    }

    func testResultsNameEachSignatureAndQuoteOddValues() {
        let signature = DKIMSignatureResult(
            domain: "example.test", selector: "sel", identity: "a b@example.test", algorithm: "rsa-sha256",
            headerCanonicalization: .relaxed, bodyCanonicalization: .simple, flags: 0x06, errorCode: 0,
            errorText: "no error", keyBits: 2048, passed: true, signedHeaders: ["from"], ignored: false,
            keyTemporaryFailure: false)
        let field = AuthenticationResults.field(
            authservID: "mx.test", dkim: DKIMVerification(status: 0, statusText: "OK", signatures: [signature]))
        XCTAssertEqual(
            field,
            "Authentication-Results: mx.test;\r\n\tdkim=pass header.d=example.test header.s=sel "
                + "header.i=\"a b@example.test\" header.a=rsa-sha256\r\n")
        XCTAssertEqual(
            AuthenticationResults.field(
                authservID: "mx.test", dkim: DKIMVerification(status: 2, statusText: "", signatures: [])),
            "Authentication-Results: mx.test;\r\n\tdkim=none\r\n")
        XCTAssertEqual(
            AuthenticationResults.field(
                authservID: "mx.test", dkim: DKIMVerification(status: 5, statusText: "syntax", signatures: [])),
            "Authentication-Results: mx.test;\r\n\tdkim=permerror (malformed DKIM-Signature field)\r\n")
    }
}
