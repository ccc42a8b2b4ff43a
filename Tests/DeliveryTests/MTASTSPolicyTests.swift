import XCTest

@testable import Delivery

/// MTA-STS policy text and TXT records (RFC 8461 §3), and which MX hosts a policy allows (§4.1).
final class MTASTSPolicyTests: XCTestCase {
    func testPolicyText() throws {
        let policy = try MTASTSPolicy.parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 999999999\r\nextra: ignored\r\n"
        ).get()
        XCTAssertEqual(policy.mode, .enforce)
        XCTAssertEqual(policy.mx, ["mail.example.com", "*.example.net"])
        XCTAssertEqual(policy.maxAge, MTASTSPolicy.maxAgeLimit, "max_age is capped at a year")
        XCTAssertTrue(policy.allows("MAIL.example.com."))
        XCTAssertTrue(policy.allows("mx1.example.net"))
        XCTAssertFalse(policy.allows("a.mx1.example.net"), "a wildcard matches one label only")
        XCTAssertFalse(policy.allows("example.net"))
        XCTAssertFalse(policy.allows("mail.example.com.evil.test"))
        for (text, problem) in [
            ("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n", "version is not STSv1"),
            ("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "mode 'strict' is not enforce, testing or none"),
            ("version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"),
            ("version: STSv1\nmode: enforce\nmx: a\n", "no max_age"),
            ("version: STSv1\nmode: enforce\nmx: a\nmax_age: soon\n", "max_age 'soon' is not a number of seconds"),
            ("<html>not a policy</html>", "line '<html>not a policy</html>' is not 'key: value'")
        ] {
            guard case .failure(let error) = MTASTSPolicy.parse(text) else { return XCTFail("accepted \(text)") }
            XCTAssertEqual(error.description, problem)
        }
        XCTAssertEqual(try MTASTSPolicy.parse("version: STSv1\nmode: none\nmax_age: 60\n").get().mode, .none)
    }

    func testTXTRecord() {
        XCTAssertEqual(MTASTSPolicies.recordID("v=STSv1; id=20160831085700Z;"), "20160831085700Z")
        XCTAssertEqual(MTASTSPolicies.recordID("v=STSv1;id=abc"), "abc")
        XCTAssertNil(MTASTSPolicies.recordID("v=spf1 -all"))
        XCTAssertNil(MTASTSPolicies.recordID("v=STSv1; id=has-dash"))
        XCTAssertNil(MTASTSPolicies.recordID("v=STSv1;"))
    }
}
