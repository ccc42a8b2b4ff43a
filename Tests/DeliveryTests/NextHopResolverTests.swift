import ImpulseConfig
import XCTest

@testable import Delivery

/// Routing without DNS: gateway, routes and address literals (MX look-ups are covered end to
/// end against dnsmasq in tests/e2e/test_delivery.py).
final class NextHopResolverTests: XCTestCase {
    func options(_ text: String) throws -> ResolvedOutboundOptions {
        let root = try ConfigParser().parse(
            text: text + "\nESMTP_Listener { Listen \"127.0.0.1:0\" { } }", file: "/tmp/ecelerity.conf")
        return try ConfigurationLoader().bind(root, sourcePath: "/tmp/ecelerity.conf").outbound
            .resolve(binding: "default", group: "default", domain: "dest.test")
    }

    func testGatewayRoutesAndLiterals() throws {
        let resolver = NextHopResolver(resolver: nil)
        XCTAssertEqual(
            try resolver.candidates(
                for: "dest.test", options: options(#"domain "dest.test" { gateway = "[::1]:2526" }"#)
            ).get(),
            [.init(host: "::1", address: "::1", port: 2526)])
        let routed = try options(
            #"domain "dest.test" { routes = ( "127.0.0.5" "smtp://127.0.0.6?port=2525&pref=10" )"#
                + " remote_smtp_port = 2600 }"
        )
        XCTAssertEqual(
            try resolver.candidates(for: "dest.test", options: routed).get(),
            [
                .init(host: "127.0.0.5", address: "127.0.0.5", port: 2600),
                .init(host: "127.0.0.6", address: "127.0.0.6", port: 2525)
            ])
        // An address-literal domain needs no DNS (RFC 5321 §4.1.3).
        XCTAssertEqual(
            try resolver.candidates(for: "[IPv6:::1]", options: options("")).get(),
            [.init(host: "[IPv6:::1]", address: "::1", port: 25)])
        // A name with no resolver is a temporary failure, not a crash.
        guard case .failure(.temporary(let text)) = resolver.candidates(for: "dest.test", options: try options(""))
        else {
            return XCTFail("expected a temporary failure")
        }
        XCTAssertTrue(text.hasPrefix("451 4.4.3"), text)
    }
}
