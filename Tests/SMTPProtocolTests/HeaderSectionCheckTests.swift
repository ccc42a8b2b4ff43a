import NIOCore
import XCTest

@testable import SMTPProtocol

final class HeaderSectionCheckTests: XCTestCase {
    func check(_ text: String, _ adjust: (inout SMTPLimits) -> Void = { _ in }) -> (HeaderSectionCheck, SMTPReply?) {
        var limits = SMTPLimits()
        adjust(&limits)
        let result = HeaderSectionCheck(Array(text.utf8), limits: limits)
        return (result, result.refusal(limits: limits))
    }

    func testCountsFieldsAndReceivedUpToTheEmptyLine() {
        let (result, refusal) = check(
            "Received: from a\r\n\tby b\r\nRECEIVED: x\r\nSubject: s\r\n\r\nReceived: in the body\r\n")
        XCTAssertEqual(result.receivedFields, 2)
        XCTAssertEqual(result.fields, 3)
        XCTAssertEqual(result.size, "Received: from a\r\n\tby b\r\nRECEIVED: x\r\nSubject: s\r\n".utf8.count)
        XCTAssertNil(refusal)
        XCTAssertEqual(check("Subject: s\n\nReceived: x\n").0.receivedFields, 0)
        XCTAssertEqual(check("X-Received: x\r\nReceivedx: y\r\n\r\n").0.receivedFields, 0)
    }

    func testMoreReceivedFieldsThanTheHopLimitIsALoop() {
        let fifty = String(repeating: "Received: from hop\r\n", count: 50) + "\r\nbody\r\n"
        XCTAssertNil(check(fifty).1)
        let fiftyOne = String(repeating: "Received: from hop\r\n", count: 51) + "\r\nbody\r\n"
        XCTAssertEqual(check(fiftyOne).1?.code, 554)
        XCTAssertEqual(check(fiftyOne).1?.enhancedCode, "5.4.6")
        XCTAssertNil(check(fiftyOne) { $0.maxReceivedHeaders = 100 }.1)
    }

    func testHeaderSectionSizeAndFieldCountAreBounded() {
        let many = String(repeating: "X-A: b\r\n", count: 11) + "\r\n"
        XCTAssertEqual(check(many) { $0.maxHeaderFields = 10 }.1?.code, 552)
        XCTAssertNil(check(many) { $0.maxHeaderFields = 11 }.1)
        let folded = "Subject: x" + String(repeating: "\r\n y", count: 1000) + "\r\n\r\n"
        XCTAssertEqual(check(folded).0.fields, 1, "continuation lines belong to their field")
        XCTAssertEqual(check(folded) { $0.maxHeaderSectionSize = 1000 }.1?.code, 552)
    }

    func testAMillionFoldedLinesIsOneLinearPass() {
        let huge = "Subject: x" + String(repeating: "\r\n y", count: 1_000_000) + "\r\n\r\n"
        let (result, refusal) = check(huge) { $0.maxHeaderSectionSize = 10 * 1024 * 1024 }
        XCTAssertEqual(result.fields, 1)
        XCTAssertEqual(result.size, huge.utf8.count - 2)
        XCTAssertNil(refusal)
    }

    func testBareLineEndsAreRewrittenAsCRLFAndCRLFIsKept() {
        let cases: [(String, String)] = [
            ("a\nb", "a\r\nb"), ("a\rb", "a\r\nb"), ("a\r\nb", "a\r\nb"), ("a\r\r\nb", "a\r\n\r\nb"),
            ("a\n\rb\r", "a\r\n\r\nb\r\n"), ("", ""), ("plain", "plain")
        ]
        for (input, expected) in cases {
            let out = MessageLineCheck.normalizingLineEnds(ByteBuffer(string: input))
            XCTAssertEqual(String(buffer: out), expected, input.debugDescription)
            let lines = MessageLineCheck(out.readableBytesView, maxLineLength: 1000)
            XCTAssertFalse(lines.sawBareCR || lines.sawBareLF, input.debugDescription)
        }
    }
}
