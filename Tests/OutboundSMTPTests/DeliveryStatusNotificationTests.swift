import Foundation
import XCTest

@testable import OutboundSMTP

final class DeliveryStatusNotificationTests: XCTestCase {
    let original = Array("From: a@source.test\r\nSubject: hello\r\n\r\nthe body\r\n".utf8)

    func report(full: Bool, recipients: [DeliveryStatusNotification.RecipientStatus]) -> String {
        let dsn = DeliveryStatusNotification(
            reportingMTA: "mx.impulse.test", originalSender: "a@source.test", originalEnvelopeID: "QQ314159",
            arrivalDate: Date(timeIntervalSince1970: 1_700_000_000), recipients: recipients,
            returnFullMessage: full, original: original)
        return String(
            decoding: dsn.render(
                messageID: "dsn-1", boundary: "b0undary", now: Date(timeIntervalSince1970: 1_700_000_100)),
            as: UTF8.self)
    }

    func testAFailureReportHasTheThreeRFC6522PartsAndPerRecipientFields() {
        let text = report(
            full: false,
            recipients: [
                .init(
                    address: "x@dest.test", originalRecipient: "rfc822;X@dest.test", action: .failed, status: "5.1.1",
                    diagnostic: "550 5.1.1 no such user", remoteMTA: "mx.dest.test",
                    lastAttempt: Date(timeIntervalSince1970: 1_700_000_050))
            ])
        XCTAssertTrue(
            text.hasPrefix("From: Mail Delivery System <MAILER-DAEMON@mx.impulse.test>\r\nTo: <a@source.test>\r\n"))
        XCTAssertTrue(text.contains("Subject: Undelivered Mail Returned to Sender\r\n"))
        XCTAssertTrue(text.contains("Auto-Submitted: auto-replied\r\n"))
        XCTAssertTrue(
            text.contains("Content-Type: multipart/report; report-type=delivery-status; boundary=\"b0undary\"\r\n"))
        XCTAssertEqual(text.components(separatedBy: "\r\n--b0undary\r\n").count, 4, "three parts")
        XCTAssertTrue(text.hasSuffix("\r\n--b0undary--\r\n"))
        XCTAssertTrue(
            text.contains(
                """
                Reporting-MTA: dns; mx.impulse.test\r\nOriginal-Envelope-Id: QQ314159\r\nArrival-Date: Tue, 14 Nov \
                2023 22:13:20 +0000\r\n
                """
            ))
        XCTAssertTrue(
            text.contains(
                """
                \r\n\r\nOriginal-Recipient: rfc822;X@dest.test\r\nFinal-Recipient: rfc822; x@dest.test\r\nAction: \
                failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.dest.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no \
                such user\r\nLast-Attempt-Date: Tue, 14 Nov 2023 22:14:10 +0000\r\n
                """
            ))
        XCTAssertTrue(text.contains("Content-Type: text/rfc822-headers\r\n"))
        XCTAssertTrue(
            text.contains("Subject: hello\r\n") && !text.contains("the body"), "headers only without RET=FULL")
        XCTAssertFalse(
            text.contains("\n\n") || text.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "CRLF only")
    }

    func testDelayedReportsAndFullReturnAndHeaderInjection() {
        let text = report(
            full: true,
            recipients: [
                .init(
                    address: "y@dest.test\r\nBcc: evil@x.test", action: .delayed, status: "4.4.1",
                    diagnostic: "connection timed out")
            ])
        XCTAssertTrue(text.contains("Subject: Delayed Mail (still being retried)\r\n"))
        XCTAssertTrue(text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"))
        XCTAssertFalse(text.contains("\r\nBcc:"), "a recipient cannot inject a header line")
        XCTAssertTrue(text.contains("Content-Type: message/rfc822\r\n") && text.contains("the body\r\n"))
    }

    /// A message without an empty line is all header: what a report returns of it is bounded.
    func testReturnedHeadersAreBounded() {
        let headerless = Array(repeating: UInt8(ascii: "x"), count: 3 << 20)
        let dsn = DeliveryStatusNotification(
            reportingMTA: "mx.impulse.test", originalSender: "a@source.test", arrivalDate: Date(),
            recipients: [.init(address: "x@dest.test", action: .failed, status: "5.0.0", diagnostic: "550 no")],
            returnFullMessage: false, original: headerless)
        let rendered = dsn.render(messageID: "dsn-2", boundary: "b")
        XCTAssertLessThan(rendered.count, (1 << 20) + 4096)
        XCTAssertGreaterThan(rendered.count, 1 << 20)
    }
}
