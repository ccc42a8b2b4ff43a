import XCTest

@testable import SMTPProtocol

/// The MIME parser under msg:mime and the 8-bit downgrade: where parts are, and what it does with broken structure.
final class MIMEStructureTests: XCTestCase {
    private func parts(_ text: String) -> [MIMEStructure.Part] { MIMEStructure(Array(text.utf8)).parts }

    func testNestedMultipartsAndTheirRanges() {
        let text =
            "Content-Type: multipart/mixed;\r\n boundary=\"outer b\"\r\n\r\npreamble\r\n--outer b\r\n"
            + "Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\n"
            + "plain\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n--outer b  \r\n"
            + "Content-Type: application/octet-stream\r\n\r\nAAAA\r\n--outer b--\r\nepilogue\r\n"
        let octets = Array(text.utf8)
        let found = MIMEStructure(octets).parts
        XCTAssertEqual(found.map(\.parent), [-1, 0, 1, 1, 0])
        XCTAssertEqual(found.map(\.boundary), ["outer b", "inner", nil, nil, nil])
        func body(_ part: MIMEStructure.Part) -> String {
            String(decoding: octets[part.bodyStart..<part.end], as: UTF8.self)
        }
        XCTAssertEqual(body(found[2]), "plain")
        XCTAssertEqual(body(found[3]), "<p>html</p>")
        XCTAssertEqual(body(found[4]), "AAAA")
        XCTAssertEqual(
            String(decoding: octets[found[0].bodyStart..<found[0].preambleEnd], as: UTF8.self), "preamble\r\n")
        XCTAssertEqual(String(decoding: octets[found[0].epilogueStart...], as: UTF8.self), "\r\nepilogue\r\n")
        XCTAssertTrue(found[0].closed)
    }

    func testBrokenStructureIsALeafOrStopsAtTheEnd() {
        // No delimiter: a leaf. A close delimiter first: a leaf. No boundary parameter: a leaf.
        XCTAssertEqual(parts("Content-Type: multipart/mixed; boundary=x\r\n\r\nnothing\r\n").count, 1)
        XCTAssertEqual(parts("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n").count, 1)
        XCTAssertEqual(parts("Content-Type: multipart/mixed\r\n\r\n--\r\n").count, 1)
        // An unclosed multipart: the last part runs to the end.
        let open = parts("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nopen\r\n")
        XCTAssertEqual(open.count, 2)
        XCTAssertFalse(open[0].closed)
        // A header section without an empty line: no body.
        XCTAssertEqual(parts("Subject: only\r\n").first?.bodyStart, 15)
    }

    func testDepthAndPartBounds() {
        var deep = ""
        for level in 0..<60 { deep += "Content-Type: multipart/mixed; boundary=l\(level)\r\n\r\n--l\(level)\r\n" }
        let nested = parts(deep + "\r\nleaf\r\n")
        XCTAssertEqual(nested.count, MIMEStructure.maxDepth + 1)
        var many = "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
        for _ in 0..<2000 { many += "--m\r\n\r\np\r\n" }
        XCTAssertEqual(parts(many + "--m--\r\n").count, MIMEStructure.maxParts)
    }
}
