import XCTest

@testable import OutboundSMTP

/// The 8-bit downgrade: quoted-printable by RFC 2045's rules, base64 for other parts, header
/// fields replaced, and what `strict` refuses.
final class SevenBitDowngradeTests: XCTestCase {
    func testQuotedPrintableRules() {
        let text = Array("a=b \r\ntab\t\r\n".utf8) + [0xC3, 0xA9] + Array(String(repeating: "x", count: 100).utf8)
        let encoded = String(decoding: SevenBitDowngrade.quotedPrintable(text[...]), as: UTF8.self)
        XCTAssertTrue(encoded.hasPrefix("a=3Db=20\r\ntab=09\r\n=C3=A9xxx"), encoded)
        let lines = encoded.components(separatedBy: "\r\n")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 76 }, "\(lines.map(\.count))")
        XCTAssertTrue(lines[2].hasSuffix("="), "a soft line break")
        XCTAssertEqual(
            String(decoding: SevenBitDowngrade.base64([0xFF, 0x00, 0x80, 0x41][...]), as: UTF8.self), "/wCAQQ==\r\n")
    }

    func testPartsAndHeaders() throws {
        let message = Array(
            "Subject: s\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\nContent-transfer-encoding: 8bit\r\n  (folded)\r\n\r\nÜ\r\n--q--\r\n"
                .utf8)
        let converted = String(decoding: try SevenBitDowngrade.convert(message, mode: .strict), as: UTF8.self)
        XCTAssertEqual(
            converted,
            "Subject: s\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n"
                + "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=9C\r\n--q--\r\n")
        let stripped = try SevenBitDowngrade.convert(Array("Subject: s\r\n\r\nÜ\r\n".utf8), mode: .strip)
        XCTAssertTrue(stripped.allSatisfy { $0 < 128 })
        XCTAssertThrowsError(try SevenBitDowngrade.convert(Array("Subject: Ü\r\n\r\nÜ\r\n".utf8), mode: .strict)) {
            XCTAssertEqual("\($0)", "the header has 8-bit octets")
        }
        // ifNeeded leaves what it cannot encode (the header) and encodes the body.
        let lenient = String(
            decoding: try SevenBitDowngrade.convert(Array("Subject: Ü\r\n\r\nÜ\r\n".utf8), mode: .ifNeeded),
            as: UTF8.self)
        XCTAssertTrue(
            lenient.hasPrefix("Subject: Ü\r\nMIME-Version: 1.0\r\n") && lenient.hasSuffix("\r\n\r\n=C3=9C\r\n"))
    }
}
