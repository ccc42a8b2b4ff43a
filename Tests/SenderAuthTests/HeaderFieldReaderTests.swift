import SMTPProtocol
import XCTest

@testable import SenderAuth

final class HeaderFieldReaderTests: XCTestCase {
    func testFirstFieldUnfoldedAndTheResponsibleDomain() {
        let head = Array(
            "Received: from x\r\nFROM: \"A, B\" <a@Example.TEST>,\r\n\tc@other.test\r\nSender: s@sender.test\r\n".utf8)
        let reader = HeaderFieldReader(head)
        XCTAssertEqual(reader.value(of: "from"), "\"A, B\" <a@Example.TEST>,\tc@other.test")
        XCTAssertEqual(reader.value(of: "sender"), "s@sender.test")
        XCTAssertNil(reader.value(of: "subject"))
        XCTAssertNil(HeaderFieldReader(Array("Fromage: x\r\n".utf8)).value(of: "from"))
        XCTAssertEqual(DKIMSigningPolicy.responsibleDomain(headerSection: head), "sender.test")
        XCTAssertEqual(
            DKIMSigningPolicy.responsibleDomain(headerSection: Array("From: a@Example.TEST (x)\r\n\r\nbody".utf8)),
            "example.test")
        XCTAssertNil(DKIMSigningPolicy.responsibleDomain(headerSection: Array("From: undisclosed\r\n".utf8)))
    }
}
