import Resolver
import XCTest

@testable import SenderAuth

/// DMARC evaluation (RFC 7489) through libopendmarc with Debian's public suffix list: alignment,
/// policies, the organisational domain's sp=, pct= sampling, and the record and From: rules.
final class DMARCEvaluatorTests: XCTestCase {
    override func setUpWithError() throws {
        try DMARCEvaluator.loadPublicSuffixList(DMARCEvaluator.defaultPublicSuffixList)
    }

    private func inputs(
        from: String = "example.com", spfDomain: String = "", spf: String = "none",
        dkim: [(domain: String, selector: String, result: String)] = []
    ) -> DMARCInputs {
        DMARCInputs(
            fromDomain: from, clientIP: "192.0.2.1", spfDomain: spfDomain, spfResult: spf, spfFromHelo: false,
            dkim: dkim)
    }

    private func record(_ text: String, at domain: String = "example.com", organizational: Bool = false)
        -> DMARCRecordAnswer
    {
        .found(record: text, domain: domain, organizational: organizational)
    }

    func testOrganizationalDomainsComeFromThePublicSuffixList() {
        XCTAssertEqual(DMARCEvaluator.organizationalDomain(of: "a.b.Example.co.uk"), "example.co.uk")
        XCTAssertEqual(DMARCEvaluator.organizationalDomain(of: "mail.example.com"), "example.com")
        XCTAssertEqual(DMARCEvaluator.organizationalDomain(of: "example.com"), "example.com")
    }

    func testRelaxedAlignmentPassesOnASubdomainAndStrictDoesNot() {
        let relaxedSPF = DMARCEvaluator.evaluate(
            inputs(spfDomain: "bounces.example.com", spf: "pass"), record: record("v=DMARC1; p=reject"))
        XCTAssertEqual(relaxedSPF.result, "pass")
        XCTAssertTrue(relaxedSPF.spfAligned)
        XCTAssertEqual(relaxedSPF.disposition, "none")
        XCTAssertEqual(relaxedSPF.policy, "reject")

        let strictSPF = DMARCEvaluator.evaluate(
            inputs(spfDomain: "bounces.example.com", spf: "pass"), record: record("v=DMARC1; p=reject; aspf=s"))
        XCTAssertEqual(strictSPF.result, "fail")
        XCTAssertFalse(strictSPF.spfAligned)
        XCTAssertEqual(strictSPF.disposition, "reject")

        let relaxedDKIM = DMARCEvaluator.evaluate(
            inputs(dkim: [("mail.example.com", "s1", "pass")]), record: record("v=DMARC1; p=quarantine"))
        XCTAssertEqual(relaxedDKIM.result, "pass")
        XCTAssertTrue(relaxedDKIM.dkimAligned)

        let strictDKIM = DMARCEvaluator.evaluate(
            inputs(dkim: [("mail.example.com", "s1", "pass")]), record: record("v=DMARC1; p=quarantine; adkim=s"))
        XCTAssertEqual(strictDKIM.result, "fail")
        XCTAssertEqual(strictDKIM.disposition, "quarantine")
    }

    func testUnalignedOrFailingAuthenticationFails() {
        // Passing for another organisation's domain aligns nothing.
        let foreign = DMARCEvaluator.evaluate(
            inputs(spfDomain: "esp.example.net", spf: "pass", dkim: [("esp.example.net", "s", "pass")]),
            record: record("v=DMARC1; p=reject"))
        XCTAssertEqual(foreign.result, "fail")
        XCTAssertFalse(foreign.dkimAligned || foreign.spfAligned)
        // An aligned signature that did not verify is no pass either.
        let broken = DMARCEvaluator.evaluate(
            inputs(dkim: [("example.com", "s", "fail")]), record: record("v=DMARC1; p=none"))
        XCTAssertEqual(broken.result, "fail")
        XCTAssertEqual(broken.policy, "none")
        XCTAssertEqual(broken.disposition, "none")
    }

    func testSubdomainPolicyAppliesWhenTheRecordIsTheOrganizationalDomains() {
        let sub = DMARCEvaluator.evaluate(
            inputs(from: "news.example.com"),
            record: record("v=DMARC1; p=reject; sp=quarantine", organizational: true))
        XCTAssertEqual(sub.result, "fail")
        XCTAssertTrue(sub.subdomainPolicy)
        XCTAssertEqual(sub.policy, "quarantine")
        XCTAssertEqual(sub.disposition, "quarantine")
        XCTAssertEqual(sub.policyDomain, "example.com")
        // Without sp= the organisational domain's p= applies to its subdomains.
        let inherited = DMARCEvaluator.evaluate(
            inputs(from: "news.example.com"), record: record("v=DMARC1; p=reject", organizational: true))
        XCTAssertEqual(inherited.policy, "reject")
        XCTAssertEqual(inherited.disposition, "reject")
    }

    func testPercentageSamplingStepsThePolicyDown() {
        let failing = inputs(spfDomain: "example.com", spf: "fail")
        let inside = DMARCEvaluator.evaluate(failing, record: record("v=DMARC1; p=reject; pct=50"), sample: 10)
        XCTAssertEqual(inside.disposition, "reject")
        let outside = DMARCEvaluator.evaluate(failing, record: record("v=DMARC1; p=reject; pct=50"), sample: 60)
        XCTAssertEqual(outside.result, "fail")
        XCTAssertEqual(outside.disposition, "quarantine")
        let quarantine = DMARCEvaluator.evaluate(failing, record: record("v=DMARC1; p=quarantine; pct=0"), sample: 0)
        XCTAssertEqual(quarantine.disposition, "none")
    }

    func testNoRecordTemporaryFailureAndAnUnparsableRecord() {
        XCTAssertEqual(DMARCEvaluator.evaluate(inputs(), record: .none).result, "none")
        XCTAssertEqual(DMARCEvaluator.evaluate(inputs(), record: .temporaryFailure).result, "temperror")
        XCTAssertEqual(DMARCEvaluator.evaluate(inputs(), record: record("v=DMARC1; p=bogus")).result, "permerror")
    }

    func testOneDMARCRecordCountsAndOthersAreIgnored() {
        let one = DMARCRecordAnswer(
            .success([DNSRecord(value: "v=spf1 -all"), DNSRecord(value: "v=DMARC1; p=none")]), domain: "example.com")
        XCTAssertEqual(one, .found(record: "v=DMARC1; p=none", domain: "example.com", organizational: false))
        let two = DMARCRecordAnswer(
            .success([DNSRecord(value: "v=DMARC1; p=none"), DNSRecord(value: "v=DMARC1; p=reject")]),
            domain: "example.com")
        XCTAssertEqual(two, .none)
        XCTAssertEqual(DMARCRecordAnswer(.success([DNSRecord(value: "v=DMARC10; p=reject")]), domain: "x"), .none)
        XCTAssertEqual(DMARCRecordAnswer(.failure(.nxdomain), domain: "x"), .none)
        XCTAssertEqual(DMARCRecordAnswer(.failure(.noData), domain: "x"), .none)
        XCTAssertEqual(DMARCRecordAnswer(.failure(.serverFailure("timed out")), domain: "x"), .temporaryFailure)
    }

    func testTheFromDomainIsTheOneAddressOfTheOneFromField() {
        func domain(_ header: String) -> String? {
            DMARCEvaluator.fromDomain(message: Array((header + "Subject: s\r\n\r\nFrom: body@not.this\r\n").utf8))
        }
        XCTAssertEqual(domain("From: \"A, B\" <a@Mail.Example.COM>\r\n"), "mail.example.com")
        XCTAssertEqual(domain("From: a@example.com (comment)\r\n"), "example.com")
        XCTAssertEqual(domain("From:\r\n a@example.org\r\n"), "example.org")
        XCTAssertNil(domain("From: a@example.com\r\nFrom: b@example.org\r\n"))
        XCTAssertNil(domain("From: a@example.com, b@example.org\r\n"))
        XCTAssertNil(domain("From: undisclosed\r\n"))
        XCTAssertNil(domain("To: a@example.com\r\n"))
    }

    func testAuthenticationResultsCarrySPFAndDMARC() {
        let spf = SPFReport(
            result: SPFResult(result: "softfail", receivedSPF: "", comment: "", lookups: 1, voidLookups: 0),
            identity: "a@example.com", domain: "example.com", fromHelo: false)
        let dmarc = DMARCEvaluator.evaluate(
            inputs(spfDomain: "example.com", spf: "softfail"), record: record("v=DMARC1; p=quarantine"))
        XCTAssertEqual(
            AuthenticationResults.field(authservID: "mx.test", dkim: nil, spf: spf, dmarc: dmarc),
            "Authentication-Results: mx.test;\r\n\tspf=softfail smtp.mailfrom=a@example.com;\r\n"
                + "\tdmarc=fail (p=quarantine dis=quarantine) header.from=example.com\r\n")
        let helo = SPFReport(
            result: SPFResult(result: "pass", receivedSPF: "", comment: "", lookups: 1, voidLookups: 0),
            identity: "mx.example.org", domain: "mx.example.org", fromHelo: true)
        XCTAssertEqual(
            AuthenticationResults.field(authservID: "mx.test", dkim: nil, spf: helo, dmarc: .noFromDomain),
            "Authentication-Results: mx.test;\r\n\tspf=pass smtp.helo=mx.example.org;\r\n\tdmarc=permerror\r\n")
    }
}
