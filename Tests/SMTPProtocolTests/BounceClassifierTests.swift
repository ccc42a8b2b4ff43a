import XCTest

@testable import SMTPProtocol

/// Momentum's bounce classification codes from real-looking replies.
final class BounceClassifierTests: XCTestCase {
    func testRepliesAndTheirClasses() {
        let cases: [(String, Int)] = [
            ("550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown", 10),
            ("550 5.2.1 The email account that you tried to reach is disabled.", 10),
            ("552 5.2.2 The email account that you tried to reach is over quota.", 22),
            ("452 4.2.2 Mailbox full", 22),
            ("552 5.3.4 Message size exceeds fixed limit", 23),
            ("550 5.1.2 Host unknown (Name server: example.invalid: host not found)", 21),
            ("451 4.4.7 Delivery time expired", 24),
            ("554 5.7.1 Relay access denied", 54),
            ("550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", 51),
            ("550 5.7.1 Message content rejected, looks like spam", 52),
            (
                "552 5.7.0 This message was blocked because its content presents a potential security issue: attachment",
                53
            ),
            ("550 5.7.26 Unauthenticated email is not accepted from this domain (policy)", 50),
            ("421 4.7.0 Try again later, closing connection.", 50),
            ("450 4.3.2 Service temporarily unavailable", 20),
            ("451 Temporary local problem - please try later", 20),
            ("554 Transaction failed", 40),
            ("550 No such user here", 10),
            ("Out of Office: I am on vacation until Monday", 60),
            ("connection timed out", 24),
            ("", 1)
        ]
        for (reply, expected) in cases {
            XCTAssertEqual(BounceClassifier.classify(reply), expected, reply)
        }
    }

    func testEnhancedCodes() {
        XCTAssertEqual(BounceClassifier.enhancedCode("550 5.1.1 x")?.1, 1)
        XCTAssertNil(BounceClassifier.enhancedCode("version 10.5.1 of something"))
        XCTAssertNil(BounceClassifier.enhancedCode("550 no code"))
    }
}
