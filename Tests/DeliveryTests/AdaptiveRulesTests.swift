import ImpulseConfig
import XCTest

@testable import Delivery

/// The back-off rule set: the built-in rules compile and catch the providers' published
/// replies (and not ordinary ones); rules read as msys.adaptive.registerRules hands them over.
final class AdaptiveRulesTests: XCTestCase {
    func testBuiltInRulesCatchPublishedRateLimitReplies() {
        let rules = AdaptiveRules()
        XCTAssertEqual(rules.all().rules.count, AdaptiveRules.builtInTable.count)
        func firstAction(_ reply: String) -> AdaptiveRules.Action? {
            rules.rules(for: "example.com").first { $0.pattern.matches(reply) }?.actions.first
        }
        XCTAssertEqual(
            firstAction("421-4.7.28 Our system has detected an unusual rate of unsolicited mail"), .throttleDown)
        XCTAssertEqual(firstAction("421 RP-001 (BAY004-MC1F13) Unfortunately, some messages"), .throttleDown)
        XCTAssertEqual(
            firstAction("451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited"), .throttleDown)
        XCTAssertEqual(firstAction("421 4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred"), .throttleDown)
        XCTAssertEqual(firstAction("421 4.7.0 [TS03] All messages from 192.0.2.1 will be deferred"), .suspend(3600))
        XCTAssertEqual(firstAction("421 Too many concurrent connections from your host"), .reduceConnections(1))
        XCTAssertEqual(
            firstAction("550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"), .suspend(3600))
        XCTAssertNil(firstAction("451 4.3.0 try again later"))
        XCTAssertNil(firstAction("452 4.5.3 Too many recipients"), "a per-transaction limit, not a rate")
        XCTAssertNil(firstAction("550 5.1.1 no such user"))
        XCTAssertNil(firstAction("250 2.0.0 rate limit free"))
    }

    func testRulesAsScriptsGiveThem() throws {
        let rule = try AdaptiveRules.rule(
            domain: "Yahoo.com", code: "^421 ", trigger: "5/60", message: "m",
            actions: [("suspend", "4 hours"), ("throttle", "down"), ("transcode", "554 5.0.0 no")], origin: "script")
        XCTAssertEqual(rule.domain, "yahoo.com")
        XCTAssertEqual(rule.count, 5)
        XCTAssertEqual(rule.seconds, 60)
        XCTAssertEqual(rule.actions, [.suspend(14400), .throttleDown, .transcode("554 5.0.0 no")])
        XCTAssertThrowsError(
            try AdaptiveRules.rule(
                domain: "x", code: "^421", trigger: "1", message: "", actions: [("suspend", "forever")], origin: "")
        ) { XCTAssertTrue("\($0)".contains("a duration such as \"4 hours\"")) }
        XCTAssertThrowsError(
            try AdaptiveRules.rule(
                domain: "x", code: "^421", trigger: "0", message: "", actions: [("throttle", "down")], origin: ""))
        XCTAssertThrowsError(
            try AdaptiveRules.rule(domain: "x", code: "^421", trigger: "1", message: "", actions: [], origin: ""))

        let rules = AdaptiveRules(builtIn: false)
        rules.register(rules: [rule], aliases: ["ymail.com": "yahoo.com"], replace: false)
        rules.register(rules: [rule], aliases: [:], replace: false)
        XCTAssertEqual(rules.all().rules.count, 1, "a rule registered by every Lua state is kept once")
        XCTAssertEqual(rules.rules(for: "ymail.com").count, 1, "an alias follows its domain's rules")
        rules.register(rules: [], aliases: [:], replace: true)
        XCTAssertTrue(rules.all().rules.isEmpty)
    }

    func testThrottleDownHalvesToOneAnHour() {
        XCTAssertEqual(QueueManager.halve(ThrottleRate(count: 20, seconds: 1)), ThrottleRate(count: 10, seconds: 1))
        XCTAssertEqual(QueueManager.halve(ThrottleRate(count: 1, seconds: 60)), ThrottleRate(count: 1, seconds: 120))
        XCTAssertEqual(QueueManager.halve(ThrottleRate(count: 1, seconds: 2000)), ThrottleRate(count: 1, seconds: 3600))
        XCTAssertEqual(QueueManager.replyPart(of: "MAIL FROM: 421 4.7.0 go away"), "421 4.7.0 go away")
        XCTAssertEqual(QueueManager.replyPart(of: "421 4.4.2 connection lost: x"), "421 4.4.2 connection lost: x")
    }
}
