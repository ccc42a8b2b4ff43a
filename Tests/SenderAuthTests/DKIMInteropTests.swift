import Foundation
import SenderAuth
import XCTest

/// DKIM signing and verification checked against an independent implementation (dkimpy, run by
/// tests/tools/dkim_peer.py): what Impulse signs, dkimpy verifies, and the other way round.
final class DKIMInteropTests: XCTestCase {
    private var peer: DKIMPeer!

    private let message = Array(
        ("From: Alice <alice@example.test>\r\nTo: bob@example.net\r\nSubject: Hello  there\r\n"
            + "Date: Fri, 04 Dec 2026 18:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\n"
            + "Body line one.\r\n.Leading dot and 8-bit: caf\u{e9}\r\n\r\n\r\n").utf8)

    override func setUpWithError() throws { peer = try DKIMPeer() }

    override func tearDownWithError() throws { peer.remove() }

    private func makeKey(ed25519: Bool, bits: Int = 1024) throws -> (path: String, record: String) {
        try peer.makeKey(ed25519: ed25519, bits: bits)
    }

    private func dkimpyVerifies(_ signed: [UInt8], keys: [String: String]) throws -> Bool {
        try peer.verifies(signed, keys: keys)
    }

    private func dkimpySigns(_ key: String, algorithm: String, canon: String) throws -> [UInt8] {
        try peer.sign(message, key: key, algorithm: algorithm, canon: canon)
    }

    private func sign(
        _ key: DKIMPrivateKey, _ algorithm: DKIMAlgorithm, _ header: DKIMCanonicalization,
        _ body: DKIMCanonicalization, settings: DKIMSigningSettings = DKIMSigningSettings()
    ) throws -> [UInt8] {
        let request = DKIMSigningRequest(
            domain: "example.test", selector: "sel", key: key, headerCanonicalization: header,
            bodyCanonicalization: body, algorithm: algorithm)
        let field = try DKIMSigner.sign(message, with: request, settings: settings)
        XCTAssertTrue(field.hasPrefix("DKIM-Signature: v=1;"), field)
        XCTAssertTrue(field.hasSuffix("\r\n"))
        XCTAssertFalse(field.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "bare LF in \(field)")
        return Array(field.utf8) + message
    }

    func testImpulseSignaturesVerifyWithDkimpy() throws {
        let rsa = try makeKey(ed25519: false)
        let ed = try makeKey(ed25519: true)
        let rsaKey = try DKIMPrivateKey.load(path: rsa.path)
        let edKey = try DKIMPrivateKey.load(path: ed.path)
        XCTAssertFalse(rsaKey.isEd25519)
        XCTAssertTrue(edKey.isEd25519)
        for header in DKIMCanonicalization.allCases {
            for body in DKIMCanonicalization.allCases {
                let signed = try sign(rsaKey, .rsaSHA256, header, body)
                XCTAssertTrue(
                    try dkimpyVerifies(signed, keys: ["sel._domainkey.example.test": rsa.record]),
                    "rsa-sha256 \(header)/\(body)")
                let edSigned = try sign(edKey, .ed25519SHA256, header, body)
                XCTAssertTrue(
                    try dkimpyVerifies(edSigned, keys: ["sel._domainkey.example.test": ed.record]),
                    "ed25519-sha256 \(header)/\(body)")
                let own = DKIMVerifier.verify(edSigned, library: try DKIMLibrary.verifying()) { _ in .found(ed.record) }
                XCTAssertEqual(own.signatures.first?.passed, true, "own ed25519 \(header)/\(body)")
            }
        }
        // A wrong key in DNS: dkimpy refuses, so the check above can fail.
        let other = try makeKey(ed25519: false, bits: 1025)
        let signed = try sign(rsaKey, .rsaSHA256, .relaxed, .relaxed)
        XCTAssertFalse(try dkimpyVerifies(signed, keys: ["sel._domainkey.example.test": other.record]))
    }

    func testHeaderListAndLengthTagReachTheSignature() throws {
        let rsa = try makeKey(ed25519: false)
        var settings = DKIMSigningSettings()
        settings.headers = ["from", "subject", "date"]
        settings.bodyLengthTag = true
        let signed = try sign(
            try DKIMPrivateKey.load(path: rsa.path), .rsaSHA256, .relaxed, .simple, settings: settings)
        let text = String(decoding: signed, as: UTF8.self)
        let field = String(text[..<text.range(of: "\r\nFrom: Alice")!.lowerBound]).replacingOccurrences(
            of: "\r\n\t", with: "")
        XCTAssertTrue(field.contains("h=from:subject:date") || field.contains("h=From:Subject:Date"), field)
        XCTAssertFalse(field.lowercased().contains("message-id"), field)
        XCTAssertTrue(field.contains("l="), field)
        XCTAssertTrue(try dkimpyVerifies(signed, keys: ["sel._domainkey.example.test": rsa.record]))
    }

    func testDkimpySignaturesVerifyWithImpulse() throws {
        let rsa = try makeKey(ed25519: false)
        let ed = try makeKey(ed25519: true)
        let library = try DKIMLibrary.verifying()
        for (key, algorithm) in [(rsa, "rsa-sha256"), (ed, "ed25519-sha256")] {
            for canon in ["simple/simple", "relaxed/relaxed", "relaxed/simple"] {
                let signed = try dkimpySigns(key.path, algorithm: algorithm, canon: canon)
                var asked: [String] = []
                let outcome = DKIMVerifier.verify(signed, library: library) { name in
                    asked.append(name)
                    return name == "sel._domainkey.example.test" ? .found(key.record) : .notFound
                }
                XCTAssertEqual(asked, ["sel._domainkey.example.test"])
                XCTAssertEqual(outcome.status, 0, "\(algorithm) \(canon): \(outcome.statusText)")
                XCTAssertEqual(outcome.signatures.count, 1)
                let signature = try XCTUnwrap(outcome.signatures.first)
                XCTAssertTrue(signature.passed, "\(algorithm) \(canon): \(signature.errorText)")
                XCTAssertEqual(signature.result, "pass")
                XCTAssertEqual(signature.domain, "example.test")
                XCTAssertEqual(signature.selector, "sel")
                XCTAssertEqual(signature.algorithm, algorithm)
                XCTAssertEqual(signature.keyBits, algorithm == "rsa-sha256" ? 1024 : 256)
                XCTAssertEqual(signature.headerCanonicalization.rawValue, String(canon.split(separator: "/")[0]))

                // The same message with one body octet changed fails, with the same key.
                var tampered = signed
                let bodyStart = try XCTUnwrap(firstRange(of: Array("Body line".utf8), in: tampered))
                tampered[bodyStart] = UInt8(ascii: "b")
                let broken = DKIMVerifier.verify(tampered, library: library) { _ in .found(key.record) }
                XCTAssertEqual(broken.signatures.first?.passed, false)
                XCTAssertEqual(broken.signatures.first?.result, "fail")
            }
        }
    }

    func testKeyLookupFailuresAndUnsignedMessages() throws {
        let rsa = try makeKey(ed25519: false)
        let signed = try sign(try DKIMPrivateKey.load(path: rsa.path), .rsaSHA256, .relaxed, .relaxed)
        let library = try DKIMLibrary.verifying()
        let missing = DKIMVerifier.verify(signed, library: library) { _ in .notFound }
        XCTAssertEqual(missing.signatures.first?.passed, false)
        XCTAssertEqual(missing.signatures.first?.result, "permerror")
        let later = DKIMVerifier.verify(signed, library: library) { _ in .temporaryFailure }
        XCTAssertEqual(later.signatures.first?.result, "temperror")
        let garbage = DKIMVerifier.verify(signed, library: library) { _ in .found("v=DKIM1; k=rsa; p=AAAA") }
        XCTAssertEqual(garbage.signatures.first?.passed, false)
        XCTAssertEqual(garbage.signatures.first?.result, "permerror")

        let unsigned = DKIMVerifier.verify(message, library: library) { _ in
            XCTFail("no key is looked up for an unsigned message")
            return .notFound
        }
        XCTAssertEqual(unsigned.status, 2) // DKIM_STAT_NOSIG
        XCTAssertTrue(unsigned.signatures.isEmpty)
    }

    func testSignaturesPastTheBoundAreNotChecked() throws {
        let rsa = try makeKey(ed25519: false)
        let key = try DKIMPrivateKey.load(path: rsa.path)
        var signed = message
        for index in 0..<(SenderAuthLimits.maxSignaturesChecked + 2) {
            let request = DKIMSigningRequest(domain: "d\(index).example.test", selector: "sel", key: key)
            signed = Array(try DKIMSigner.sign(signed, with: request).utf8) + signed
        }
        var lookups = 0
        let outcome = DKIMVerifier.verify(signed, library: try DKIMLibrary.verifying()) { _ in
            lookups += 1
            return .found(rsa.record)
        }
        XCTAssertEqual(outcome.signatures.count, SenderAuthLimits.maxSignaturesChecked + 2)
        XCTAssertEqual(lookups, SenderAuthLimits.maxSignaturesChecked)
        XCTAssertEqual(outcome.signatures.filter(\.ignored).count, 2)
        XCTAssertEqual(outcome.signatures.filter(\.passed).count, SenderAuthLimits.maxSignaturesChecked)
    }

    func testKeysThatCannotSignAreRefusedWhenLoaded() throws {
        let path = peer.directory.appendingPathComponent("bad.pem").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n".utf8))
        XCTAssertThrowsError(try DKIMPrivateKey.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        XCTAssertThrowsError(try DKIMPrivateKey.load(path: peer.directory.appendingPathComponent("none.pem").path))
        // Momentum's keybuf: the PEM body without its armour or line breaks.
        let rsa = try makeKey(ed25519: false)
        let pem = try String(contentsOfFile: rsa.path, encoding: .utf8)
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let key = try DKIMPrivateKey(pem: Array(body.utf8), origin: "(script)")
        let signed = try sign(key, .rsaSHA256, .simple, .simple)
        XCTAssertTrue(try dkimpyVerifies(signed, keys: ["sel._domainkey.example.test": rsa.record]))
        // An RSA key cannot make an ed25519-sha256 signature.
        XCTAssertThrowsError(try sign(key, .ed25519SHA256, .simple, .simple))
    }

    private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle
        {
            return start
        }
        return nil
    }
}
