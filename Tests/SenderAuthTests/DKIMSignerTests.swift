import Foundation
import SenderAuth
import XCTest

/// What Impulse's DKIM signer puts in a signature, checked by two verifiers that are not
/// Impulse's code: libopendkim (through DKIMVerifier) and dkimpy.
final class DKIMSignerTests: XCTestCase {
    private var peer: DKIMPeer!
    private var rsa: (path: String, record: String)!
    private var key: DKIMPrivateKey!

    /// Trace fields, repeated fields, a long folded field, 8-bit text, dots and trailing space.
    private let message = Array(
        ("Received: from a.example (a.example [192.0.2.1])\r\n\tby b.example; Fri, 4 Dec 2026 18:00:00 +0000\r\n"
            + "Return-Path: <alice@example.test>\r\nFrom: Alice <alice@example.test>\r\nTo: bob@example.net\r\n"
            + "Cc: carol@example.net\r\nCc: dave@example.net\r\nX-Mailer: test  mailer\t\r\n"
            + "Subject: a folded\r\n  subject with \u{e9} in it\r\nDate: Fri, 04 Dec 2026 18:00:00 +0000\r\n"
            + "Message-ID: <2@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Received: from c.example\r\n\r\n"
            + "..dot-stuffed once\r\nline with trailing space \t\r\n\r\n8-bit: caf\u{e9}\r\n\r\n\r\n").utf8)

    override func setUpWithError() throws {
        peer = try DKIMPeer()
        rsa = try peer.makeKey(ed25519: false)
        key = try DKIMPrivateKey.load(path: rsa.path)
    }

    override func tearDownWithError() throws { peer.remove() }

    private func signed(
        _ message: [UInt8], _ settings: DKIMSigningSettings = DKIMSigningSettings(),
        algorithm: DKIMAlgorithm = .rsaSHA256, canon: DKIMCanonicalization = .relaxed, identity: String? = nil,
        timestamp: Int = Int(Date().timeIntervalSince1970)
    ) throws -> [UInt8] {
        let request = DKIMSigningRequest(
            domain: "example.test", selector: "sel", key: key, headerCanonicalization: canon,
            bodyCanonicalization: canon, algorithm: algorithm, identity: identity)
        return Array(try DKIMSigner.sign(message, with: request, settings: settings, timestamp: timestamp).utf8)
            + message
    }

    /// libopendkim's verdict on the first signature.
    private func libopendkimPasses(_ signed: [UInt8]) throws -> Bool {
        let record = rsa.record
        let outcome = DKIMVerifier.verify(signed, library: try DKIMLibrary.verifying()) { _ in .found(record) }
        return outcome.signatures.first?.passed == true
    }

    private func dkimpyPasses(_ signed: [UInt8]) throws -> Bool {
        try peer.verifies(signed, keys: ["sel._domainkey.example.test": rsa.record])
    }

    /// The signature field's tags, unfolded.
    private func tags(_ signed: [UInt8]) -> [String: String] {
        let text = String(decoding: signed, as: UTF8.self)
        let field = text[..<text.range(of: "\r\nReceived:")!.lowerBound].replacingOccurrences(of: "\r\n\t", with: "")
        var tags: [String: String] = [:]
        for pair in field.dropFirst("DKIM-Signature:".count).split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            tags[parts[0].trimmingCharacters(in: .whitespaces)] = parts.count > 1 ? String(parts[1]) : ""
        }
        return tags
    }

    func testDefaultFieldsVerifyWithBothVerifiersUnderEveryCanonicalization() throws {
        for canon in DKIMCanonicalization.allCases {
            let result = try signed(message, canon: canon)
            XCTAssertTrue(try libopendkimPasses(result), "libopendkim \(canon)")
            XCTAssertTrue(try dkimpyPasses(result), "dkimpy \(canon)")
            XCTAssertEqual(
                tags(result)["h"], "from:to:cc:cc:subject:date:message-id:mime-version:content-type", "\(canon)")
            // Both Cc: fields are covered: changing the first one breaks the signature.
            let changed = String(decoding: result, as: UTF8.self).replacingOccurrences(
                of: "Cc: carol@", with: "Cc: carl@")
            XCTAssertFalse(try libopendkimPasses(Array(changed.utf8)), "\(canon)")
        }
        // Trace fields are not signed: a later hop's Received: leaves the signature good.
        let hop = Array("Received: from d.example\r\n".utf8) + (try signed(message))
        XCTAssertTrue(try dkimpyPasses(hop))
    }

    func testLinesOfTheFieldStayShort() throws {
        var settings = DKIMSigningSettings()
        settings.headers = ["*"]
        settings.copyHeaders = true
        settings.oversignHeaders = ["from", "subject", "reply-to", "list-unsubscribe", "list-unsubscribe-post"]
        let result = try signed(message, settings)
        let text = String(decoding: result, as: UTF8.self)
        let field = text[..<text.range(of: "\r\nReceived:")!.lowerBound]
        for line in field.components(separatedBy: "\r\n") {
            XCTAssertLessThanOrEqual(line.utf8.count, 78, line)
        }
        XCTAssertTrue(try libopendkimPasses(result))
        XCTAssertTrue(try dkimpyPasses(result))
    }

    func testHeaderListWildcardSkipListAndOversigning() throws {
        var settings = DKIMSigningSettings()
        settings.headers = ["subject", "x-*"]
        settings.skipHeaders = ["x-skipped"]
        settings.oversignHeaders = ["from", "reply-to"]
        let extra = Array("X-Skipped: 1\r\n".utf8) + message
        let result = try signed(extra, settings)
        // From: is always signed; the oversigned names come once more at the end.
        XCTAssertEqual(tags(result)["h"], "from:x-mailer:subject:from:reply-to")
        XCTAssertTrue(try libopendkimPasses(result))
        XCTAssertTrue(try dkimpyPasses(result))
        // Adding a From: or a Reply-To: above the others breaks it; X-Skipped: is not covered.
        let sigEnd = String(decoding: result, as: UTF8.self).range(of: "\r\nX-Skipped")!.lowerBound
        let text = String(decoding: result, as: UTF8.self)
        let field = String(text[..<sigEnd]) + "\r\n"
        let rest = String(text[text.index(sigEnd, offsetBy: 2)...])
        XCTAssertFalse(try libopendkimPasses(Array((field + "From: mallory@example.test\r\n" + rest).utf8)))
        XCTAssertFalse(try libopendkimPasses(Array((field + "Reply-To: mallory@example.test\r\n" + rest).utf8)))
        XCTAssertTrue(
            try libopendkimPasses(
                Array((field + rest.replacingOccurrences(of: "X-Skipped: 1", with: "X-Skipped: 2")).utf8)))
    }

    func testOptionalTags() throws {
        var settings = DKIMSigningSettings()
        settings.signatureLifetime = 3600
        settings.bodyLengthTag = true
        settings.copyHeaders = true
        let now = Int(Date().timeIntervalSince1970)
        let result = try signed(message, settings, identity: "@mail.example.test", timestamp: now)
        let found = tags(result)
        XCTAssertEqual(found["t"], String(now))
        XCTAssertEqual(found["x"], String(now + 3600))
        XCTAssertEqual(found["i"], "@mail.example.test")
        // l= counts the canonical body: relaxed drops trailing white space and empty lines.
        let body = "..dot-stuffed once\r\nline with trailing space\r\n\r\n8-bit: caf\u{e9}\r\n"
        XCTAssertEqual(found["l"], String(body.utf8.count))
        let copied = try XCTUnwrap(found["z"])
        XCTAssertTrue(copied.hasPrefix("from:=20Alice=20<alice@example.test>|to:=20bob@example.net|cc:"), copied)
        XCTAssertTrue(copied.contains("subject:=20a=20folded=20=20subject=20with=20=C3=A9=20in=20it"), copied)
        XCTAssertTrue(try libopendkimPasses(result))
        XCTAssertTrue(try dkimpyPasses(result))
        // An expired signature: libopendkim refuses it.
        let old = try signed(message, settings, timestamp: now - 7200)
        XCTAssertFalse(try libopendkimPasses(old))
    }

    func testRSASHA1AndEd25519() throws {
        let sha1 = try signed(message, algorithm: .rsaSHA1)
        XCTAssertEqual(tags(sha1)["a"], "rsa-sha1")
        XCTAssertTrue(try libopendkimPasses(sha1))
        let ed = try peer.makeKey(ed25519: true)
        key = try DKIMPrivateKey.load(path: ed.path)
        XCTAssertTrue(key.isEd25519)
        for canon in DKIMCanonicalization.allCases {
            let result = try signed(message, algorithm: .ed25519SHA256, canon: canon)
            let outcome = DKIMVerifier.verify(result, library: try DKIMLibrary.verifying()) { _ in .found(ed.record) }
            XCTAssertEqual(outcome.signatures.first?.passed, true, "\(canon)")
            XCTAssertTrue(try peer.verifies(result, keys: ["sel._domainkey.example.test": ed.record]), "\(canon)")
        }
    }

    func testWhatCannotBeSignedIsRefused() throws {
        let request = DKIMSigningRequest(domain: "example.test", selector: "sel", key: key)
        func refuses(_ request: DKIMSigningRequest, _ message: [UInt8]? = nil, _ why: String) {
            XCTAssertThrowsError(try DKIMSigner.sign(message ?? self.message, with: request), why) { error in
                XCTAssertTrue("\(error)".contains(why), "\(error)")
            }
        }
        var bad = request
        bad.identity = "alice@other.test"
        refuses(bad, nil, "not in the signing domain")
        bad.identity = "alice@example.test;\r\n\tbh=forged"
        refuses(bad, nil, "is not an address")
        bad.identity = "alice"
        refuses(bad, nil, "is not an address")
        bad = request
        bad.selector = "sel; h=to"
        refuses(bad, nil, "make no DKIM key name")
        bad = request
        bad.domain = "example.test\r\nBcc: x@y"
        refuses(bad, nil, "make no DKIM key name")
        refuses(request, Array("Subject: no sender\r\n\r\nbody\r\n".utf8), "no From: field")
        bad = request
        bad.algorithm = .ed25519SHA256
        refuses(bad, nil, "does not match the key")
        // A subdomain identity and an empty local-part are fine.
        var good = request
        good.identity = "bounce@news.example.test"
        XCTAssertNoThrow(try DKIMSigner.sign(message, with: good))
    }

    func testSettingsMatchNamesAsPatterns() {
        var settings = DKIMSigningSettings()
        XCTAssertTrue(settings.signs("from"))
        XCTAssertFalse(settings.signs("received"))
        XCTAssertFalse(settings.signs("x-mailer"))
        settings.headers = ["List-*", "*-id", "x-*-tag"]
        XCTAssertTrue(settings.signs("from"))
        XCTAssertTrue(settings.signs("list-unsubscribe"))
        XCTAssertTrue(settings.signs("message-id"))
        XCTAssertTrue(settings.signs("x-campaign-tag"))
        XCTAssertFalse(settings.signs("x-campaign-tags"))
        XCTAssertFalse(settings.signs("subject"))
        settings.skipHeaders = ["list-id"]
        XCTAssertFalse(settings.signs("list-id"))
    }
}
