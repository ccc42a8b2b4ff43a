import XCTest

@testable import Delivery

/// TLSA records as the resolver writes them, and which are usable for SMTP (RFC 7672 §3.1).
final class DANEVerifierTests: XCTestCase {
    func testRecords() throws {
        let record = try XCTUnwrap(DANEVerifier.Record("3 1 1 0aff"))
        XCTAssertEqual(record, DANEVerifier.Record(usage: 3, selector: 1, matchingType: 1, data: [0x0A, 0xFF]))
        XCTAssertTrue(record.isUsable)
        XCTAssertNil(DANEVerifier.Record("3 1 1 0af"), "an odd number of hex digits")
        XCTAssertNil(DANEVerifier.Record("3 1 zz"))
        let verifier = DANEVerifier(records: [
            record, DANEVerifier.Record(usage: 1, selector: 0, matchingType: 1, data: []),
            DANEVerifier.Record(usage: 2, selector: 2, matchingType: 1, data: [])
        ])
        XCTAssertEqual(verifier.records, [record], "PKIX usages and unknown selectors are unusable")
        XCTAssertFalse(verifier.matches([]), "no certificate matches nothing")
    }
}
