import XCTest

@testable import PolicyTest

final class PolicyTranscriptTests: XCTestCase {
    func testAnswersAndSteps() throws {
        let transcript = try PolicyTranscript(
            path: "t.txt",
            text: """
                # comment
                dns TXT Example.COM. "v=spf1 -all"
                dns MX example.com 10 mx1.example.com
                dns MX example.com 20 mx2.example.com
                dns A gone.example nxdomain
                db users "SELECT \\"x\\" FROM t WHERE a = ?" ["1", null] => [["x", "y"], ["a", null], [1, true]]
                http POST https://api.example/v1 => 201 {"ok": true}
                client ::1
                > EHLO x
                < 250
                > DATA
                < 354 go ahead
                > Subject: s
                >
                > .
                < 250
                expect header X-A: b
                expect no header X-B
                expect no message
                expect context message k = v w
                expect context connection k unset
                expect binding bulk

                """)
        XCTAssertEqual(transcript.dns["TXT example.com"], .records(["v=spf1 -all"]))
        XCTAssertEqual(transcript.dns["MX example.com"], .records(["10 mx1.example.com", "20 mx2.example.com"]))
        XCTAssertEqual(transcript.dns["A gone.example"], .failure("NXDOMAIN"))
        XCTAssertEqual(
            transcript.databases,
            [
                .init(
                    datasource: "users", sql: "SELECT \"x\" FROM t WHERE a = ?", parameters: ["1", nil],
                    columns: ["x", "y"], rows: [["a", nil], ["1", "true"]])
            ])
        XCTAssertEqual(
            transcript.http, [.init(method: "POST", url: "https://api.example/v1", status: 201, body: "{\"ok\": true}")]
        )
        XCTAssertEqual(
            transcript.steps.map(\.step),
            [
                .connect(client: "::1"), .send("EHLO x"), .expectReply(code: 250, text: nil), .send("DATA"),
                .expectReply(code: 354, text: "go ahead"), .send("Subject: s"), .send(""), .send("."),
                .expectReply(code: 250, text: nil), .expectHeader(name: "X-A", value: "b"),
                .expectNoHeader(name: "X-B"),
                .expectNothingSpooled, .expectContext(message: true, key: "k", value: "v w"),
                .expectContext(message: false, key: "k", value: nil), .expectBinding("bulk")
            ])
        XCTAssertEqual(transcript.steps.first?.number, 8)
    }

    func testErrorsNameTheLine() {
        for (text, line, reason) in [
            ("\n\nclient not-an-ip", 3, "client needs an IPv4 or IPv6 address"),
            ("db users SELECT => []", 1, "db NAME"),
            ("< 999", 1, "'<' needs a reply code"),
            ("expect context session k = v", 1, "expect context connection|message"),
            ("http GET x => abc", 1, "http METHOD URL => STATUS [BODY]")
        ] {
            XCTAssertThrowsError(try PolicyTranscript(path: "t", text: text)) { error in
                guard let error = error as? PolicyTranscript.SyntaxError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.line, line, text)
                XCTAssertTrue(error.reason.contains(reason), "\(error.reason) for \(text)")
            }
        }
    }
}
