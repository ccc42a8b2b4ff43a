import CLibCrypto
import Foundation
import NIOSSL
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
        XCTAssertEqual(verifier.verify([], names: ["mx.example"]), .failed("no certificate presented"))
    }
}

/// DANE-TA's chain validation through libcrypto, with certificates made by the openssl tool.
final class DANETrustAnchorTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "dane-ta-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    @discardableResult
    func openssl(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func authority(_ name: String) throws -> [UInt8] {
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key",
            "-out", "\(name).pem", "-days", "2", "-subj", "/CN=\(name)", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"
        ])
        return try der("\(name).pem")
    }

    func leaf(_ name: String, signedBy ca: String) throws -> [UInt8] {
        try "subjectAltName=DNS:\(name)\n".write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key", "-out",
            "\(name).csr", "-subj", "/CN=\(name)"
        ])
        try openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial", "-out",
            "\(name).pem", "-days", "2", "-extfile", "\(name).ext"
        ])
        return try der("\(name).pem")
    }

    func der(_ pem: String) throws -> [UInt8] {
        try openssl(["x509", "-in", pem, "-outform", "DER", "-out", "\(pem).der"])
        return Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(pem).der")))
    }

    func testTheChainMustLeadToTheAnchorAndNameTheHost() throws {
        let anchor = try authority("Anchor")
        let stranger = try authority("Stranger")
        let server = try leaf("mx.example.test", signedBy: "Anchor")
        XCTAssertEqual(DANEVerifier.validate([server], anchor: anchor, names: ["mx.example.test"]), 0)
        XCTAssertEqual(
            DANEVerifier.validate([server, anchor], anchor: anchor, names: ["other.test", "mx.example.test"]), 0,
            "any of the reference identifiers will do")
        XCTAssertEqual(
            DANEVerifier.validate([server], anchor: anchor, names: ["other.test"]), X509_V_ERR_HOSTNAME_MISMATCH)
        XCTAssertEqual(DANEVerifier.validate([server], anchor: anchor, names: []), X509_V_ERR_HOSTNAME_MISMATCH)
        XCTAssertNotEqual(DANEVerifier.validate([server], anchor: stranger, names: ["mx.example.test"]), 0)
        XCTAssertEqual(DANEVerifier.validate([[0x30, 0x03]], anchor: anchor, names: ["mx.example.test"]), -1)
    }

    func testARecordNamingTheAnchorsKeyMatchesAPresentedChain() throws {
        let anchor = try authority("Anchor")
        let server = try leaf("mx.example.test", signedBy: "Anchor")
        let chain = [
            try NIOSSLCertificate(bytes: server, format: .der), try NIOSSLCertificate(bytes: anchor, format: .der)
        ]
        let key = try chain[1].extractPublicKey().toSPKIBytes()
        var digest = [UInt8](repeating: 0, count: 32)
        _ = key.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &digest) }
        let verifier = DANEVerifier(records: [.init(usage: 2, selector: 1, matchingType: 1, data: digest)])
        XCTAssertEqual(verifier.verify(chain, names: ["mx.example.test", "example.test"]), .matched)
        guard case .failed(let why) = verifier.verify(chain, names: ["mx.elsewhere.test"]) else {
            return XCTFail("a leaf for another name passed")
        }
        XCTAssertTrue(why.contains("hostname mismatch"), why)
        guard case .failed = verifier.verify([chain[0]], names: ["mx.example.test"]) else {
            return XCTFail("an anchor named by its key but not presented passed")
        }
    }
}
