import Foundation
import XCTest

@testable import ImpulseConfig

/// The `spf` and `dmarc` stanzas: options, defaults, and errors with file:line:column.
final class SenderAuthConfigurationTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-auth-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func load(_ text: String) throws -> ImpulseConfiguration {
        // A listener after the text under test, so that its line numbers stay as written.
        let listener = "\nESMTP_Listener { Listen \"127.0.0.1:2525\" { } }\n"
        try (text + listener).write(toFile: directory + "/ecelerity.conf", atomically: true, encoding: .utf8)
        return try ConfigurationLoader().load(path: directory + "/ecelerity.conf")
    }

    func errors(_ text: String) -> [String] {
        do {
            _ = try load(text)
            return []
        } catch {
            return (error as! ConfigError).diagnostics.filter { $0.severity == .error }.map {
                $0.description.replacingOccurrences(of: directory + "/", with: "")
            }
        }
    }

    func testDefaultsWhenTheStanzasAreEmpty() throws {
        let config = try load("spf { }\ndmarc { }\n")
        let spf = try XCTUnwrap(config.spf)
        XCTAssertTrue(spf.checkHelo)
        XCTAssertTrue(spf.receivedSPF)
        XCTAssertFalse(spf.rejectFail)
        XCTAssertFalse(spf.authenticationResults)
        XCTAssertNil(spf.authservID)
        let dmarc = try XCTUnwrap(config.dmarc)
        XCTAssertEqual(dmarc.enforcement, .reportOnly)
        XCTAssertEqual(dmarc.publicSuffixList, "/usr/share/publicsuffix/public_suffix_list.dat")
        XCTAssertNil(try load("").spf)
        XCTAssertNil(try load("").dmarc)
    }

    func testEveryOptionIsRead() throws {
        try "com\n".write(toFile: directory + "/psl.dat", atomically: true, encoding: .utf8)
        let config = try load(
            """
            spf {
              helo = false
              received_spf = false
              reject_fail = true
              authentication_results = true
              authserv_id = "mx.example.test"
            }
            dmarc {
              enforcement = "enforce"
              public_suffix_list = "psl.dat"
              authentication_results = true
              authserv_id = "MX.example.test"
            }
            """)
        let spf = try XCTUnwrap(config.spf)
        XCTAssertFalse(spf.checkHelo)
        XCTAssertFalse(spf.receivedSPF)
        XCTAssertTrue(spf.rejectFail)
        XCTAssertTrue(spf.authenticationResults)
        XCTAssertEqual(spf.authservID, "mx.example.test")
        let dmarc = try XCTUnwrap(config.dmarc)
        XCTAssertEqual(dmarc.enforcement, .enforce)
        XCTAssertEqual(dmarc.publicSuffixList, directory + "/psl.dat")
        XCTAssertTrue(dmarc.authenticationResults)
    }

    func testMistakesAreErrorsWithTheirLocation() {
        XCTAssertEqual(
            errors("spf {\n  reject = true\n}\n"),
            [
                "ecelerity.conf:2:3: error: unknown option 'reject' in spf (expected helo, received_spf, "
                    + "reject_fail, authentication_results, authserv_id)"
            ])
        XCTAssertEqual(errors("dmarc {\n  enforcement = \"quarantine\"\n}\n").count, 1)
        XCTAssertTrue(errors("dmarc {\n  enforcement = \"quarantine\"\n}\n")[0].hasPrefix("ecelerity.conf:2:"))
        XCTAssertEqual(
            errors("dmarc {\n  public_suffix_list = \"/nonexistent/psl.dat\"\n}\n"),
            ["ecelerity.conf:2:24: error: cannot read the public suffix list '/nonexistent/psl.dat'"])
        XCTAssertEqual(
            errors("spf {\n  authserv_id = \"mx example\"\n}\n"),
            ["ecelerity.conf:2:17: error: 'authserv_id' expects a host name, found 'mx example'"])
        XCTAssertEqual(
            errors("spf { authserv_id = \"a.test\" }\ndmarc {\n  authserv_id = \"b.test\"\n}\n"),
            ["ecelerity.conf:2:1: error: authserv_id 'b.test' differs from 'a.test' set at ecelerity.conf:1:1"])
        XCTAssertEqual(
            errors("spf { }\nspf { }\n"),
            ["ecelerity.conf:2:1: error: a second spf stanza (the first is at ecelerity.conf:1:1)"])
        XCTAssertEqual(errors("dmarc {\n  domain \"x\" { }\n}\n").count, 1)
    }
}
