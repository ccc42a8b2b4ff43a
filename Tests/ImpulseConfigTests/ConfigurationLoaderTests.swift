import Foundation
import SMTPProtocol
import XCTest

@testable import ImpulseConfig

final class ConfigurationLoaderTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-load-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func load(_ text: String) throws -> ImpulseConfiguration {
        try text.write(toFile: directory + "/ecelerity.conf", atomically: true, encoding: .utf8)
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

    func testDefaultsAndRelativePaths() throws {
        let config = try load(
            """
            spoolbase = spool\nESMTP_Listener { Listen \"127.0.0.1:2525\" {} }\nec_logger \"ec_logger\" { mainlog \
            = \"log/mainlog.ec\" }
            """
        )
        XCTAssertEqual(config.spoolbase, directory + "/spool")
        XCTAssertEqual(config.logs.mainlog, directory + "/log/mainlog.ec")
        // Where the option is, for a start-up error about the file.
        XCTAssertEqual(config.logs.placeOf(directory + "/log/mainlog.ec"), directory + "/ecelerity.conf:3:25: ")
        XCTAssertEqual(config.logs.placeOf("/elsewhere"), "")
        XCTAssertEqual(config.listeners.count, 1)
        let policy = config.listeners[0].policy
        XCTAssertEqual(policy.limits, SMTPLimits())
        XCTAssertEqual(policy.bareLineEndings, .reject)
        XCTAssertEqual(policy.startTLSInjectionPolicy, .reject)
        XCTAssertTrue(policy.relayHosts.isEmpty, "no open relay by default")
        XCTAssertFalse(policy.clientMayRelay(IPAddress("127.0.0.1")!))
        XCTAssertFalse(policy.acceptsDomain("example.com"))
    }

    func testFallbackPeerOverListenOverListenerOverGlobal() throws {
        let config = try load(
            """
            max_message_size = 1000
            relay_hosts = ( 10.0.0.0/8 )
            ESMTP_Listener {
              max_message_size = 2000
              idle_time = 30
              Peer "192.0.2.0/24" { max_message_size = 4000 }
              Listen "127.0.0.1:25" {
                max_message_size = 3000
                Peer "192.0.2.7" { max_message_size = 5000 }
                Peer "192.0.2.0/24" { idle_time = 7 }
              }
              Listen "127.0.0.1:26" { relay_hosts = ( 127.0.0.1 ) }
            }
            """)
        let first = config.listeners[0]
        XCTAssertEqual(first.policy.limits.maxMessageSize, 3000)
        XCTAssertEqual(first.policy.limits.commandTimeout, 30)
        XCTAssertEqual(first.policy(for: IPAddress("192.0.2.7")!).0.limits.maxMessageSize, 5000)
        // Equal prefixes: the Listen-level Peer wins, on top of the Listen's values.
        let (peerPolicy, block) = first.policy(for: IPAddress("192.0.2.8")!)
        XCTAssertEqual(block?.description, "192.0.2.0/24")
        XCTAssertEqual(peerPolicy.limits.commandTimeout, 7)
        XCTAssertEqual(peerPolicy.limits.maxMessageSize, 3000)
        XCTAssertEqual(first.policy(for: IPAddress("10.1.2.3")!).0.clientMayRelay(IPAddress("10.1.2.3")!), true)
        let second = config.listeners[1]
        XCTAssertEqual(second.policy.limits.maxMessageSize, 2000)
        XCTAssertFalse(
            second.policy.clientMayRelay(IPAddress("10.1.2.3")!), "a listener relay_hosts replaces the global one")
        XCTAssertTrue(second.policy.clientMayRelay(IPAddress("127.0.0.1")!))
    }

    func testRelayDomainPatterns() throws {
        let config = try load(
            "relay_domains = ( example.com \"*.sub.example\" \"*tail.example\" )\nESMTP_Listener { Listen \":25\" {} }")
        let policy = config.listeners[0].policy
        XCTAssertEqual(config.listeners[0].address.host, "0.0.0.0")
        XCTAssertTrue(policy.acceptsDomain("EXAMPLE.com"))
        XCTAssertFalse(policy.acceptsDomain("www.example.com"))
        XCTAssertTrue(policy.acceptsDomain("a.sub.example"))
        XCTAssertFalse(policy.acceptsDomain("sub.example"))
        XCTAssertTrue(policy.acceptsDomain("badtail.example"))
    }

    func testUnknownUnsupportedAndMisplacedOptions() throws {
        XCTAssertEqual(
            errors("frobnicate = 1\nESMTP_Listener { Listen \":25\" {} }"),
            ["ecelerity.conf:1:1: error: unknown option 'frobnicate' in global"])
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" { spoolbase = x } }"),
            ["ecelerity.conf:1:33: error: option 'spoolbase' is not valid in Listen \":25\""])
        XCTAssertEqual(errors("ESMTP_Listener { enable_authentication = true Listen \":25\" {} }").count, 1)
        // Ignoring these would leave the server outside its chroot or with groups it should not have.
        for option in [
            "supplemental_groups = ( \"mail\" )", "chroot = \"/var/empty\""
        ] {
            let name = option.split(separator: " ")[0]
            XCTAssertEqual(
                errors(option + "\nESMTP_Listener { Listen \":25\" {} }"),
                [
                    """
                    ecelerity.conf:1:1: error: option '\(name)' is not supported yet, and ignoring it would weaken \
                    security: remove it or wait for support
                    """
                ])
        }
        XCTAssertEqual(
            errors("domain \"x.example\" { a = b }\nESMTP_Listener { Listen \":25\" {} }"),
            ["ecelerity.conf:1:22: error: unknown option 'a' in domain \"x.example\""])
        let config = try load(
            """
            connection_allocation_aggressiveness = high\npathway \"p\" { a = b }\nfoo_module {}\nESMTP_Listener { \
            Listen \":25\" {} }
            """
        )
        XCTAssertEqual(
            config.warnings.map { $0.description.replacingOccurrences(of: directory + "/", with: "") },
            [
                "ecelerity.conf:1:1: warning: option 'connection_allocation_aggressiveness' is not supported yet (ignored)",
                "ecelerity.conf:2:1: warning: scope 'pathway' is not supported yet (ignored with everything in it)",
                """
                ecelerity.conf:3:1: warning: module or scope 'foo_module' is not supported by Impulse yet (ignored \
                with everything in it)
                """
            ])
    }

    /// Momentum's outbound fallback order: binding ▸ domain, group ▸ domain, binding, group,
    /// global domain, global, built-in default.
    func testOutboundOptionsFollowMomentumsFallbackOrder() throws {
        let config = try load(
            """
            retry_interval = 100
            max_outbound_connections = 7
            tls = required
            domain "d.example" { retry_interval = 200  gateway = "[::1]:2525" }
            binding_group "bg" {
              max_outbound_connections = 11
              domain "d.example" { retry_interval = 300 }
              binding "b" { bind_address = 127.0.0.3  domain "d.example" { max_outbound_connections = 13 } }
            }
            binding "solo" { ehlo_hostname = solo.example }
            ESMTP_Listener { Listen ":25" {} }
            """)
        let outbound = config.outbound
        let plain = outbound.resolve(binding: "default", group: "default", domain: "other.example")
        XCTAssertEqual(plain.retryInterval, 100)
        XCTAssertEqual(plain.maxOutboundConnections, 7)
        XCTAssertEqual(plain.tls, .required)
        XCTAssertEqual(plain.messageExpiration, 86400)
        XCTAssertEqual(plain.connectTimeout, 30, "seconds, not Momentum's five minutes")
        XCTAssertNil(plain.gateway)
        let globalDomain = outbound.resolve(binding: "default", group: "default", domain: "D.Example")
        XCTAssertEqual(globalDomain.retryInterval, 200)
        XCTAssertEqual(globalDomain.gateway, NextHop(host: "::1", port: 2525))
        let grouped = outbound.resolve(binding: "b", group: "bg", domain: "d.example")
        XCTAssertEqual(grouped.retryInterval, 300, "group ▸ domain beats the global domain")
        XCTAssertEqual(grouped.maxOutboundConnections, 13, "binding ▸ domain beats everything")
        XCTAssertEqual(grouped.bindAddress, "127.0.0.3")
        XCTAssertEqual(grouped.gateway, NextHop(host: "::1", port: 2525), "unset in the binding: the global domain's")
        XCTAssertEqual(outbound.resolve(binding: "b", group: "bg", domain: "x.example").maxOutboundConnections, 11)
        XCTAssertEqual(outbound.resolve(binding: "solo", group: nil, domain: "x.example").ehloHostname, "solo.example")
        XCTAssertEqual(grouped.retryDelay(afterAttempts: 1), 300)
        XCTAssertEqual(grouped.retryDelay(afterAttempts: 3), 1200)
        XCTAssertEqual(grouped.retryDelay(afterAttempts: 40), 43200)
        XCTAssertEqual(
            errors("domain \"d.example\" { bind_address = 127.0.0.2 }\nESMTP_Listener { Listen \":25\" {} }").first?
                .contains("not valid in domain"), true)
        XCTAssertEqual(
            errors("binding \"b\" { routes = ( \"mx.example\" ) }\nESMTP_Listener { Listen \":25\" {} }").first?
                .contains("only globally or in a domain scope"), true)
        XCTAssertEqual(
            errors("gateway = \"bad host:x\"\nESMTP_Listener { Listen \":25\" {} }").first?.contains("expects host"),
            true)
        XCTAssertEqual(
            errors("tls = maybe\nESMTP_Listener { Listen \":25\" {} }").first?.contains("no, ifavailable, required"),
            true)
        XCTAssertEqual(
            errors("scriptlet \"s\" { gc_pause = 10 }\nESMTP_Listener { Listen \":25\" {} }").first?.contains(
                "between 50 and 10000"), true)
    }

    /// Throttle rates, regex domain scopes (exact names first, then patterns in file order) and
    /// host scopes with their own chain: binding ▸ host, binding_group ▸ host, global host.
    func testThrottlesRegexDomainsAndHostScopes() throws {
        let config = try load(
            """
            outbound_throttle_messages = "100/60"
            domain "/^mail[.]/" { outbound_throttle_connections = 2 }
            domain "/example/" { retry_interval = 7 }
            domain "mail.example" { retry_interval = 9 }
            host "mx.shared.example" { max_outbound_connections = 3  outbound_throttle_messages = 10 }
            host "/[.]google[.]com$/" { outbound_throttle_connections = "5/10" }
            binding_group "bg" {
              host "mx.shared.example" { outbound_throttle_messages = 20 }
              binding "b" { host "/^mx[.]/" { outbound_throttle_connections = 1 } }
            }
            ESMTP_Listener { Listen ":25" {} }
            """)
        let outbound = config.outbound
        let plain = outbound.resolve(binding: "default", group: "default", domain: "other.test")
        XCTAssertEqual(plain.throttleMessages, ScopedRate(rate: ThrottleRate(count: 100, seconds: 60), scope: "global"))
        XCTAssertNil(plain.throttleConnections)
        let exact = outbound.resolve(binding: "default", group: "default", domain: "MAIL.example")
        XCTAssertEqual(exact.retryInterval, 9, "an exact name beats the patterns")
        XCTAssertNil(exact.throttleConnections, "the exact scope is the one that applies")
        let first = outbound.resolve(binding: "default", group: "default", domain: "mail.other")
        XCTAssertEqual(
            first.throttleConnections, ScopedRate(rate: ThrottleRate(count: 2, seconds: 1), scope: "domain /^mail[.]/"),
            "a throttle is named after the scope that sets it: every domain the pattern matches shares it")
        XCTAssertEqual(first.retryInterval, 1200, "only the first matching pattern applies")
        XCTAssertEqual(outbound.resolve(binding: "default", group: nil, domain: "an.example.net").retryInterval, 7)
        XCTAssertTrue(outbound.hasHostScopes)
        let global = try XCTUnwrap(outbound.hostScope(binding: "default", group: "default", host: "MX.shared.example"))
        XCTAssertEqual(global.scope, "host mx.shared.example")
        XCTAssertEqual(global.limits.maxOutboundConnections, 3)
        XCTAssertEqual(global.limits.throttleMessages?.rate, ThrottleRate(count: 10, seconds: 1))
        let grouped = try XCTUnwrap(outbound.hostScope(binding: "b", group: "bg", host: "mx.shared.example"))
        XCTAssertEqual(grouped.scope, "binding b host /^mx[.]/", "the most specific matching stanza names it")
        XCTAssertEqual(
            grouped.limits.throttleConnections,
            ScopedRate(rate: ThrottleRate(count: 1, seconds: 1), scope: "binding b host /^mx[.]/"))
        XCTAssertEqual(
            grouped.limits.throttleMessages,
            ScopedRate(rate: ThrottleRate(count: 20, seconds: 1), scope: "binding_group bg host mx.shared.example"),
            "binding_group ▸ host")
        XCTAssertEqual(grouped.limits.maxOutboundConnections, 3, "global host")
        let google = try XCTUnwrap(outbound.hostScope(binding: "default", group: nil, host: "alt1.aspmx.l.google.com"))
        XCTAssertEqual(google.limits.throttleConnections?.rate, ThrottleRate(count: 5, seconds: 10))
        // "0" turns a less specific throttle off (Momentum: no limit).
        let unlimited = try load(
            "outbound_throttle_messages = 5\ndomain \"free.example\" { outbound_throttle_messages = 0 }\n"
                + "ESMTP_Listener { Listen \":25\" {} }")
        XCTAssertNil(
            unlimited.outbound.resolve(binding: "default", group: nil, domain: "free.example").throttleMessages)
        XCTAssertEqual(
            unlimited.outbound.resolve(binding: "default", group: nil, domain: "other.example").throttleMessages?.scope,
            "global")
        XCTAssertNil(outbound.hostScope(binding: "default", group: nil, host: "mx.elsewhere.test"))
        XCTAssertEqual(ThrottleRate(count: 5, seconds: 10).intervalMicros, 2_000_000)
        XCTAssertEqual(ThrottleRate(count: 1000, seconds: 1).burst, 100)
        XCTAssertEqual(ThrottleRate(count: 10, seconds: 1).burst, 1)

        XCTAssertEqual(
            errors("outbound_throttle_messages = \"10/0\"\nESMTP_Listener { Listen \":25\" {} }"),
            [
                """
                ecelerity.conf:1:30: error: 'outbound_throttle_messages' expects a rate "N" (N per second) or \
                "N/S" (N per S seconds; N 0-10000000, 0 meaning no limit; S 1-86400), found '10/0'
                """
            ])
        XCTAssertEqual(
            errors("host \"mx.example\" { retry_interval = 5 }\nESMTP_Listener { Listen \":25\" {} }"),
            [
                """
                ecelerity.conf:1:21: error: option 'retry_interval' is not valid in host "mx.example" (a host scope \
                takes max_outbound_connections, outbound_throttle_connections, outbound_throttle_messages)
                """
            ])
        XCTAssertEqual(
            errors("domain \"/(unclosed/\" { }\nESMTP_Listener { Listen \":25\" {} }").first?.contains(
                "domain pattern /(unclosed/ does not compile: missing closing parenthesis"), true)
    }

    func testValueErrors() {
        XCTAssertEqual(
            errors("ESMTP_Listener { idle_time = soon Listen \":25\" {} }"),
            ["ecelerity.conf:1:30: error: 'idle_time' expects an integer, found 'soon'"])
        XCTAssertEqual(
            errors("ESMTP_Listener { max_recipients_per_message = 10 Listen \":25\" {} }").first?.contains(
                "at least 100"), true)
        XCTAssertEqual(
            errors("relay_hosts = ( 300.1.1.1 )\nESMTP_Listener { Listen \":25\" {} }"),
            [
                """
                ecelerity.conf:1:17: error: '300.1.1.1' in 'relay_hosts' is not an IP address or CIDR block (e.g. \
                127.0.0.0/8, ::1)
                """
            ])
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \"::1:25\" {} }").prefix(1),
            [
                """
                ecelerity.conf:1:18: error: Listen \"::1:25\": '::1' is not an IPv4 address (IPv6 addresses go in \
                brackets: \"[::1]:25\")
                """
            ])
        XCTAssertEqual(
            errors("ESMTP_Listener { open_relay = maybe Listen \":25\" {} }").first?.contains("expects a boolean"), true
        )
        XCTAssertEqual(
            errors("ESMTP_Listener { starttls_injection_policy = allow Listen \":25\" {} }").first?.contains(
                "CVE-2011-0411"), true)
        XCTAssertEqual(
            errors("ESMTP_Listener { rfc2822_lone_lf_in_body = sometimes Listen \":25\" {} }").first?.contains(
                "pedantic, fix, ignore"), true)
        XCTAssertEqual(errors("spool_mode = 0999\nESMTP_Listener { Listen \":25\" {} }").first?.contains("octal"), true)
        XCTAssertEqual(
            errors("hostname = x"),
            [
                """
                ecelerity.conf:1:1: error: no ESMTP_Listener with a Listen stanza: Impulse would accept no mail \
                (add ESMTP_Listener { Listen \"127.0.0.1:25\" {} })
                """
            ])
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" {} Listen \"*:25\" {} }").first?.contains("already defined at"),
            true)
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" { implicit_tls = true } }").first?.contains("no tls_certificate"),
            true)
        XCTAssertEqual(
            errors("ESMTP_Listener { tls_certificate = \"missing.pem\" Listen \":25\" {} }").first?.contains(
                "cannot be read"), true)
    }

    func testOctalAndBooleanForms() throws {
        let config = try load(
            "spool_mode = 0600\nESMTP_Listener { Listen \":25\" { enable = on } Listen \":26\" { enable = disabled } }")
        XCTAssertEqual(config.spoolMode, 0o600)
        XCTAssertEqual(config.listeners.map(\.address.port), [25])
        XCTAssertEqual(OptionReader.parseInteger("010"), 8)
        XCTAssertEqual(OptionReader.parseInteger("0x10"), 16)
        XCTAssertEqual(OptionReader.parseInteger("-1"), -1)
    }

    func testScriptletStanza() throws {
        try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
        try "-- lua".write(toFile: directory + "/policies/main.lua", atomically: true, encoding: .utf8)
        let config = try load(
            """
            ESMTP_Listener { Listen ":25" {} }
            alerting {}
            scriptlet "scriptlet" {
              script_ttl = 300
              script "boot" { source = "msys.boot" }
              script "main" { source = "policies.main" }
            }
            scriptlet "scriptlet" { script "again" { source = "policies/main" } }
            """)
        XCTAssertEqual(config.scriptlet?.scripts.map(\.name), ["boot", "main", "again"])
        XCTAssertEqual(config.scriptlet?.scripts[0].resolvedPath, nil)
        XCTAssertEqual(config.scriptlet?.scripts[1].resolvedPath, directory + "/policies/main.lua")
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" {} }\nscriptlet \"a\" { script \"x\" { source = \"nope\" } }")
                .first?.contains("source \"nope\" not found"), true)
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" {} }\nscriptlet \"a\" {}\nscriptlet \"b\" {}").first?.contains(
                "only one scriptlet instance"), true)
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" {} }\nscriptlet \"a\" { script \"x\" { path = \"y\" } }").first?
                .contains("source is the only option"), true)
        XCTAssertEqual(
            errors("ESMTP_Listener { Listen \":25\" {} }\nscriptlet \"a\" { bogus = 1 }"),
            ["ecelerity.conf:2:17: error: scriptlet: invalid configuration option 'bogus'"])
        XCTAssertEqual(errors("ESMTP_Listener { Listen \":25\" {} }\nscriptlet \"a\" { script_ttl = 0 }").count, 1)
    }
}
