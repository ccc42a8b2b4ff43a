import XCTest

@testable import ImpulseConfig

final class ConfigQueryTests: XCTestCase {
    func query() throws -> ConfigQuery {
        let root = try ConfigParser().parse(
            text: """
                retry_interval = 120
                outbound_smtp_auth_pass = "s3cret"
                dns_nameservers = ( "127.0.0.1" "::1" )
                binding_group "bulk" {
                  max_outbound_connections = 9
                  binding "b1" {
                    domain "example.com" { retry_interval = 30 }
                  }
                }
                Esmtp_Listener { Listen "127.0.0.1:25" { tls = "allow" } }
                """, file: "t.conf")
        return ConfigQuery(root: root)
    }

    func testGetReadsOneScopeAndEvalFallsBackThroughTheEnclosingOnes() throws {
        let query = try query()
        XCTAssertEqual(query.answer(["get", "retry_interval"]).value, "120")
        XCTAssertEqual(query.answer(["get", "dns_nameservers"]).text, "dns_nameservers = ( 127.0.0.1 ::1 )\n")
        let path = ["binding_group", "bulk", "binding", "b1", "domain", "example.com"]
        XCTAssertEqual(query.answer(["get"] + path + ["retry_interval"]).value, "30")
        XCTAssertNil(query.answer(["get"] + path + ["max_outbound_connections"]).value)
        XCTAssertEqual(query.answer(["eval"] + path + ["max_outbound_connections"]).value, "9")
        XCTAssertEqual(query.answer(["eval", "binding_group", "bulk", "retry_interval"]).value, "120")
        // A scope without an instance name, and one with an address for a name.
        XCTAssertEqual(query.answer(["get", "esmtp_listener", "listen", "127.0.0.1:25", "tls"]).value, "allow")
        XCTAssertEqual(
            query.answer(["get", "binding_group", "none", "retry_interval"]).text,
            "No such scope 'binding_group none' in scope ''.\n")
        XCTAssertNil(query.answer(["set", "retry_interval", "5"]).value)
        // The console does not print a password; scripts (msys.config) get it.
        XCTAssertEqual(query.answer(["get", "outbound_smtp_auth_pass"]).text, "outbound_smtp_auth_pass = (hidden)\n")
        XCTAssertEqual(query.answer(["get", "outbound_smtp_auth_pass"]).value, "s3cret")
        XCTAssertEqual(
            query.answer(["eval", "no_such_option"]).text, "Option 'no_such_option' is not set in scope ''.\n")
    }
}
