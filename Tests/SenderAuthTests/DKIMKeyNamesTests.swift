import Resolver
import SenderAuth
import XCTest

final class DKIMKeyNamesTests: XCTestCase {
    func testKeyNamesOfEachSignatureFieldInOrder() {
        let message = Array(
            ("DKIM-Signature: v=1; a=rsa-sha256; d=Example.TEST;\r\n\ts=sel1; h=from; bh=x; b=y\r\n"
                + "dkim-signature: v=1; s = s2 ; d=other.test; b=z\r\n"
                + "DKIM-Signature: v=1; s=sel1; d=Example.TEST; b=again\r\n"
                + "DKIM-Signature: v=1; s=a/b; d=x.test; b=z\r\n" + "DKIM-Signature: v=1; d=nosel.test; b=z\r\n"
                + "Subject: DKIM-Signature: s=no; d=no.test\r\n\r\n"
                + "DKIM-Signature: v=1; s=body; d=body.test\r\n").utf8)
        XCTAssertEqual(
            DKIMKeyNames.of(message: message), ["sel1._domainkey.Example.TEST", "s2._domainkey.other.test"])
        XCTAssertEqual(DKIMKeyNames.of(message: message, limit: 1), ["sel1._domainkey.Example.TEST"])
        XCTAssertEqual(DKIMKeyNames.of(message: Array("Subject: x\r\n\r\n".utf8)), [])
    }

    func testAnswersMapToKeyRecords() {
        XCTAssertEqual(DKIMKeyNames.record(from: .success([DNSRecord(value: "v=DKIM1; p=x")])), .found("v=DKIM1; p=x"))
        XCTAssertEqual(DKIMKeyNames.record(from: .success([DNSRecord(value: "a"), DNSRecord(value: "b")])), .notFound)
        XCTAssertEqual(DKIMKeyNames.record(from: .failure(.nxdomain)), .notFound)
        XCTAssertEqual(DKIMKeyNames.record(from: .failure(.noData)), .notFound)
        XCTAssertEqual(DKIMKeyNames.record(from: .failure(.serverFailure("timed out"))), .temporaryFailure)
    }
}
