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

    /// Operator rules (Momentum's override file): domain rules first, then global ones, `*` as
    /// a wildcard, the built-in rules last; bad lines reported by number.
    func testOverrideRules() {
        let text = """
            # comment
            example.com,52,no such user

            ,99,*bad * words*
            ,10 ,  550 5.7.1 user * gone
            ,abc,x
            only,two
            ,10,**
            """
        let (rules, errors) = BounceRules.parse(text, codes: BounceClassifier.codes.union([99]))
        XCTAssertEqual(rules.rules.count, 3)
        XCTAssertEqual(
            errors,
            [
                BounceRules.LineError(line: 6, reason: "'abc' is not a classification code (or custom class)"),
                BounceRules.LineError(line: 7, reason: "expected domain,bounce_code,rule"),
                BounceRules.LineError(line: 8, reason: "the rule is empty")
            ])
        XCTAssertEqual(rules.classify("550 5.1.1 No such user here", domain: "Example.COM"), 52)
        XCTAssertEqual(rules.classify("550 5.1.1 No such user here", domain: "other.test"), 10, "built in")
        XCTAssertEqual(rules.classify("554 BAD and rude WORDS", domain: nil), 99)
        XCTAssertEqual(rules.classify("554 words bad", domain: nil), 40, "pieces must come in order: built in")
        XCTAssertEqual(rules.classify("550 5.7.1 user long gone", domain: nil), 10)
        XCTAssertEqual(BounceClassifier.names[51], "Spam Block")
    }
}
