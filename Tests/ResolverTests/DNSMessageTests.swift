import XCTest

@testable import Resolver

/// The response parser on crafted messages: compression, CNAME chains, negative TTLs from the
/// SOA, and every malformation a hostile name server can send.
final class DNSMessageTests: XCTestCase {
    /// A response header: id 0, QR set, the rcode, and the section counts.
    private func header(rcode: UInt8 = 0, questions: UInt16 = 1, answers: UInt16, authorities: UInt16 = 0) -> [UInt8] {
        [0, 0, 0x81, 0x80 | rcode] + [questions, answers, authorities, 0].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    private func name(_ text: String) -> [UInt8] {
        text.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    private func record(_ owner: [UInt8], type: UInt16, ttl: UInt32, _ rdata: [UInt8]) -> [UInt8] {
        owner + [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1] + [24, 16, 8, 0].map { UInt8((ttl >> UInt32($0)) & 0xFF) }
            + [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)] + rdata
    }

    private func parse(_ bytes: [UInt8], _ type: DNSRecordType) -> Result<DNSMessage.Outcome, DNSLookupError> {
        bytes.withUnsafeBytes { DNSMessage.parse($0, type: type) }
    }

    func testCompressedMXAnswerThroughACNAMEWithTheSmallestTTL() {
        // Question "mail.test" at offset 12; answer: mail.test CNAME mx.test (TTL 60), then two MX
        // records owned by a pointer to the CNAME's target, exchanges compressed against it.
        var message = header(answers: 3) + name("mail.test") + [0, 15, 0, 1]
        message += record([0xC0, 12], type: 5, ttl: 60, [2] + Array("mx".utf8) + [0xC0, 17])
        let target = message.count - 5 // the "mx" label inside the CNAME's RDATA
        message += record(
            [0xC0, UInt8(target)], type: 15, ttl: 300, [0, 20, 1] + Array("b".utf8) + [0xC0, UInt8(target)])
        message += record(
            [0xC0, UInt8(target)], type: 15, ttl: 30, [0, 10, 1] + Array("a".utf8) + [0xC0, UInt8(target)])
        XCTAssertEqual(
            parse(message, .mx),
            .success(
                .records(
                    [DNSRecord(value: "a.mx.test", preference: 10), DNSRecord(value: "b.mx.test", preference: 20)],
                    ttl: 30)))
    }

    func testNegativeAnswersCarryTheSOAMinimumOrNothing() {
        let question = name("gone.test") + [0, 1, 0, 1]
        let soa =
            name("ns.test") + name("host.test") + [0, 0, 0, 1, 0, 0, 4, 176, 0, 0, 0, 180]
            + [0, 18, 117, 0] + [0, 0, 1, 44] // MINIMUM 300
        XCTAssertEqual(
            parse(
                header(rcode: 3, answers: 0, authorities: 1) + question + record(name("test"), type: 6, ttl: 900, soa),
                .a),
            .success(.nxdomain(cacheFor: 300)))
        XCTAssertEqual(
            parse(header(answers: 0, authorities: 1) + question + record(name("test"), type: 6, ttl: 60, soa), .a),
            .success(.noData(cacheFor: 60)))
        XCTAssertEqual(parse(header(rcode: 3, answers: 0) + question, .a), .success(.nxdomain(cacheFor: nil)))
        XCTAssertEqual(parse(header(rcode: 2, answers: 0) + question, .a), .success(.failure(rcode: 2)))
    }

    func testMalformedMessagesAreBadAnswersNeverACrash() {
        let question = name("x.test") + [0, 1, 0, 1]
        let cases: [(String, [UInt8])] = [
            ("short header", [0, 0, 0x81]),
            ("question past the end", header(answers: 0) + name("x.test")),
            ("record data past the end", header(answers: 1) + question + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1]),
            ("A record of 3 octets", header(answers: 1) + question + record([0xC0, 12], type: 1, ttl: 1, [1, 2, 3])),
            (
                "pointer loop",
                header(answers: 1) + question + record([0xC0, 12], type: 12, ttl: 1, [1, 120, 0xC0, 37])
            ),
            (
                "forward pointer",
                header(answers: 1) + question + record([0xC0, 12], type: 12, ttl: 1, [0xC0, 60])
            ),
            ("label type 0x40", header(answers: 1) + question + record([0x40], type: 1, ttl: 1, [1, 2, 3, 4]))
        ]
        for (label, message) in cases {
            guard case .failure(.badAnswer) = parse(message, label.contains("pointer") ? .ptr : .a) else {
                return XCTFail("\(label): \(parse(message, .a))")
            }
        }
        let many =
            header(answers: 101) + question
            + (0..<101).flatMap { record([0xC0, 12], type: 1, ttl: 1, [10, 0, 0, UInt8($0)]) }
        XCTAssertEqual(parse(many, .a), .failure(.badAnswer("more than 100 A records")))
    }

    /// A TTL with its top bit set counts as zero (RFC 2181 §8): not cached.
    func testATTLWithTheTopBitSetIsZero() {
        let message =
            header(answers: 1) + name("x.test") + [0, 1, 0, 1]
            + record([0xC0, 12], type: 1, ttl: 0x8000_0000, [192, 0, 2, 1])
        XCTAssertEqual(parse(message, .a), .success(.records([DNSRecord(value: "192.0.2.1")], ttl: 0)))
    }
}
