import SMTPProtocol
import XCTest

/// The header section's end: the first CRLF CRLF, found with memchr over CRs that do not start
/// one (a lone CR, CR LF then text), and nothing when the octets end first.
final class HeaderSectionTests: XCTestCase {
    private func offset(_ text: String) -> Int? {
        Array(text.utf8).withUnsafeBytes { HeaderSection.emptyLineOffset(in: $0) }
    }

    func testTheFirstEmptyLineEndsTheHeaderSection() {
        XCTAssertEqual(offset("Subject: x\r\nFrom: y\r\n\r\nbody\r\n\r\nmore"), 19)
        XCTAssertEqual(offset("\r\n\r\nbody"), 0)
        XCTAssertEqual(offset("A: \r b\r\nB: c\r\r\n\r\n"), 13)
    }

    func testNoEmptyLineIsAllHeader() {
        XCTAssertNil(offset("Subject: x\r\nFrom: y\r\n"))
        XCTAssertNil(offset("Subject: x\n\nbody"), "bare LF line ends are not CRLF")
        XCTAssertNil(offset("A: b\r\n\r"))
        XCTAssertNil(offset(""))
    }
}
