import Foundation
import Resolver
import SenderAuth
import XCTest

/// check_host() through libspf2 with look-ups answered from an in-memory zone: the RFC 7208
/// results, the look-up limits, and what the checker asked.
final class SPFCheckerTests: XCTestCase {
    private let zone: [String: [DNSRecordType: [String]]] = [
        "example.test": [.txt: ["v=spf1 ip4:192.0.2.0/24 a:mail.example.test mx include:partner.test -all"]],
        "mail.example.test": [.a: ["198.51.100.7"]],
        "partner.test": [.txt: ["v=spf1 ip6:2001:db8::/32 ~all"]],
        "soft.test": [.txt: ["v=spf1 ~all"]],
        "neutral.test": [.txt: ["v=spf1 ?all"]],
        "broken.test": [.txt: ["v=spf1 ip4:not-an-address -all"]],
        "two.test": [.txt: ["v=spf1 -all", "v=spf1 +all"]],
        "voids.test": [.txt: ["v=spf1 a:n1.voids.test a:n2.voids.test a:n3.voids.test -all"]],
        "loop.test": [.txt: ["v=spf1 include:loop.test -all"]],
        "many.test": [
            .txt: ["v=spf1 " + (1...11).map { "a:h\($0).many.test" }.joined(separator: " ") + " -all"]
        ],
        "helo.example.test": [.txt: ["v=spf1 a -all"], .a: ["203.0.113.9"]]
    ]

    private func check(_ ip: String, _ sender: String, helo: String = "client.test") -> (SPFResult, [String]) {
        var asked: [String] = []
        let result = SPFChecker.check(ip: ip, sender: sender, helo: helo, receiver: "mx.impulse.test") { name, type in
            asked.append("\(type.rawValue) \(name)")
            if name.hasSuffix(".many.test") { return .records(["192.0.2.200"]) }
            if name == "temp.test" { return .temporaryFailure }
            guard let records = self.zone[name.lowercased()] else { return .nxdomain }
            return records[type].map { .records($0) } ?? .noRecord
        }
        return (result!, asked)
    }

    func testResults() {
        XCTAssertEqual(check("192.0.2.10", "a@example.test").0.result, "pass")
        XCTAssertEqual(check("198.51.100.7", "a@example.test").0.result, "pass")
        XCTAssertEqual(check("2001:db8::1", "a@example.test").0.result, "pass") // through include:partner.test
        XCTAssertEqual(check("2001:db9::1", "a@example.test").0.result, "fail") // partner's ~all: no match
        XCTAssertEqual(check("203.0.113.1", "a@example.test").0.result, "fail")
        XCTAssertEqual(check("203.0.113.1", "a@soft.test").0.result, "softfail")
        XCTAssertEqual(check("203.0.113.1", "a@neutral.test").0.result, "neutral")
        XCTAssertEqual(check("203.0.113.1", "a@nothing.test").0.result, "none")
        XCTAssertEqual(check("203.0.113.1", "a@temp.test").0.result, "temperror")
        XCTAssertEqual(check("203.0.113.1", "a@broken.test").0.result, "permerror")
        XCTAssertEqual(check("203.0.113.1", "a@two.test").0.result, "permerror") // two records (§4.5)
        // The HELO identity: postmaster@ the HELO name.
        XCTAssertEqual(check("203.0.113.9", "postmaster@helo.example.test", helo: "helo.example.test").0.result, "pass")
        let (pass, _) = check("192.0.2.10", "a@example.test")
        XCTAssertTrue(pass.receivedSPF.hasPrefix("Received-SPF: pass"), pass.receivedSPF)
        XCTAssertTrue(pass.receivedSPF.contains("192.0.2.10"), pass.receivedSPF)
    }

    func testLookupLimits() {
        // More than two void look-ups (RFC 7208 §4.6.4): permerror.
        let (voids, _) = check("203.0.113.1", "a@voids.test")
        XCTAssertEqual(voids.result, "permerror")
        XCTAssertEqual(voids.voidLookups, 3)
        // Eleven a: mechanisms: more than ten DNS mechanisms is a permerror.
        let (many, asked) = check("203.0.113.1", "a@many.test")
        XCTAssertEqual(many.result, "permerror")
        XCTAssertLessThanOrEqual(asked.count, SenderAuthLimits.maxSPFLookups)
        // A record that includes itself ends, bounded.
        let (loop, loopAsked) = check("203.0.113.1", "a@loop.test")
        XCTAssertEqual(loop.result, "permerror")
        XCTAssertLessThanOrEqual(loopAsked.count, SenderAuthLimits.maxSPFLookups)
    }

    /// The same zone and cases through an independent implementation (pyspf, run by
    /// tests/tools/spf_peer.py): every result agrees.
    func testResultsAgreeWithPyspf() throws {
        let cases: [[String]] = [
            ["192.0.2.10", "a@example.test", "c.test"], ["198.51.100.7", "a@example.test", "c.test"],
            ["2001:db8::1", "a@example.test", "c.test"], ["2001:db9::1", "a@example.test", "c.test"],
            ["203.0.113.1", "a@example.test", "c.test"], ["203.0.113.1", "a@soft.test", "c.test"],
            ["203.0.113.1", "a@neutral.test", "c.test"], ["203.0.113.1", "a@nothing.test", "c.test"],
            ["203.0.113.1", "a@temp.test", "c.test"], ["203.0.113.1", "a@broken.test", "c.test"],
            ["203.0.113.1", "a@two.test", "c.test"], ["203.0.113.1", "a@voids.test", "c.test"],
            ["203.0.113.1", "a@loop.test", "c.test"],
            ["203.0.113.9", "postmaster@helo.example.test", "helo.example.test"],
            ["203.0.113.10", "postmaster@helo.example.test", "helo.example.test"]
        ]
        var zoneJSON: [String: [String: [String]]] = [:]
        for (name, records) in zone {
            zoneJSON[name] = Dictionary(uniqueKeysWithValues: records.map { ($0.key.rawValue, $0.value) })
        }
        let input: [String: Any] = ["zone": zoneJSON, "temporary": ["temp.test"], "cases": cases]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spf-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: input).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tests/tools/spf_peer.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", peer, path.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let theirs = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        let ours = cases.map { check($0[0], $0[1], helo: $0[2]).0.result }
        XCTAssertEqual(ours, theirs)
    }
}
