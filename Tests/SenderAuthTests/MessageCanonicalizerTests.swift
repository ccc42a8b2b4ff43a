import XCTest

@testable import SenderAuth

/// DKIM canonicalization as ARC uses it, on the example of RFC 6376 §3.4.6, and the b= removal
/// and field splitting ARC's signatures rest on.
final class MessageCanonicalizerTests: XCTestCase {
    let message = Array("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n".utf8)

    func testTheRFC6376Example() {
        let (fields, bodyStart) = RawHeaderField.split(message)
        XCTAssertEqual(fields.map(\.name), ["a", "b"])
        let relaxed = fields.flatMap { MessageCanonicalizer.header($0.octets, .relaxed) }
        XCTAssertEqual(String(decoding: relaxed, as: UTF8.self), "a:X\r\nb:Y Z\r\n")
        let simple = fields.flatMap { MessageCanonicalizer.header($0.octets, .simple) }
        XCTAssertEqual(String(decoding: simple, as: UTF8.self), "A: X\r\nB : Y\t\r\n\tZ  \r\n")
        let body = message[bodyStart...]
        XCTAssertEqual(String(decoding: MessageCanonicalizer.body(body, .relaxed), as: UTF8.self), " C\r\nD E\r\n")
        XCTAssertEqual(String(decoding: MessageCanonicalizer.body(body, .simple), as: UTF8.self), " C \r\nD \t E\r\n")
    }

    func testEmptyBodiesAndABodyWithoutAFinalLineEnd() {
        XCTAssertEqual(MessageCanonicalizer.body([][...], .simple), [13, 10])
        XCTAssertEqual(MessageCanonicalizer.body(Array("\r\n\r\n".utf8)[...], .relaxed), [])
        XCTAssertEqual(
            String(decoding: MessageCanonicalizer.body(Array("end  ".utf8)[...], .relaxed), as: UTF8.self), "end\r\n")
    }

    func testTheSignatureValueIsEmptiedAndNothingElse() {
        let field = Array("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s;\r\n\tb=abc\r\n\tdef; t=1".utf8)[...]
        XCTAssertEqual(
            String(decoding: SignatureTagList.removingSignature(field), as: UTF8.self),
            "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s;\r\n\tb=; t=1")
        let signature = Array("ARC-Message-Signature: bh=xyz; b=abc".utf8)[...]
        XCTAssertEqual(
            String(decoding: SignatureTagList.removingSignature(signature), as: UTF8.self),
            "ARC-Message-Signature: bh=xyz; b=")
        XCTAssertNil(SignatureTagList(Array("i=1; i=2".utf8)[...]))
        XCTAssertEqual(SignatureTagList(Array(" a = b ;c=\r\n\td".utf8)[...])?.tags, ["a": "b", "c": "d"])
    }
}

/// What a script hands to msys.validate.openarc.sign never becomes a header line of its own.
final class ARCSealerInputTests: XCTestCase {
    func testLineBreaksInTheDomainOrResultsAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arc-\(UUID()).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["genrsa", "-out", path, "2048"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let key = try DKIMPrivateKey.load(path: path)
        let message = Array("From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n".utf8)
        func seal(domain: String, results: [String]) throws -> String? {
            try ARCSealer.seal(
                message, chain: .none,
                request: ARCSealRequest(
                    domain: domain, selector: "s", key: key, authservID: "mx.test", results: results))
        }
        XCTAssertThrowsError(try seal(domain: "example.com\r\nBcc: victim@example.net", results: []))
        XCTAssertThrowsError(try seal(domain: "example.\r\ncom", results: []))
        XCTAssertThrowsError(try seal(domain: "example.com", results: ["spf=pass\r\nBcc: victim@example.net"]))
        let fields = try XCTUnwrap(try seal(domain: "example.com", results: ["spf=pass smtp.mailfrom=a@example.com"]))
        XCTAssertTrue(fields.hasPrefix("ARC-Seal: i=1; a=rsa-sha256; t="))
        XCTAssertTrue(fields.contains("ARC-Authentication-Results: i=1; mx.test;\r\n\tarc=none;\r\n\tspf=pass"))
    }
}
