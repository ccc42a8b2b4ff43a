import Foundation
import SMTPProtocol

/// Builds a delivery status notification (RFC 3464 in a multipart/report, RFC 6522): a human
/// readable part, the message/delivery-status part with one block per recipient, and the
/// original's headers (RET=HDRS or no RET) or the whole original (RET=FULL). Sent from the null
/// sender to the original envelope sender; never for a message whose sender is null (RFC 5321
/// §4.5.5) — the caller checks that.
public struct DeliveryStatusNotification: Sendable {
    public enum Action: String, Sendable {
        case failed, delayed, delivered, relayed, expanded
    }

    public struct RecipientStatus: Sendable {
        public var address: String
        /// ORCPT as given (`rfc822;user@example.com`), or nil.
        public var originalRecipient: String?
        public var action: Action
        /// RFC 3463 status (`5.1.1`).
        public var status: String
        /// The next hop's reply or Impulse's own reason.
        public var diagnostic: String
        public var remoteMTA: String?
        public var lastAttempt: Date?
        /// For a delayed recipient: until when it is retried (RFC 3464 §2.3.9).
        public var willRetryUntil: Date?

        public init(
            address: String, originalRecipient: String? = nil, action: Action, status: String, diagnostic: String,
            remoteMTA: String? = nil, lastAttempt: Date? = nil, willRetryUntil: Date? = nil
        ) {
            self.willRetryUntil = willRetryUntil
            self.address = address
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.diagnostic = diagnostic
            self.remoteMTA = remoteMTA
            self.lastAttempt = lastAttempt
        }
    }

    public var reportingMTA: String
    public var originalSender: String
    public var originalEnvelopeID: String?
    public var arrivalDate: Date
    public var recipients: [RecipientStatus]
    /// RET=FULL: attach the whole original; otherwise its headers only.
    public var returnFullMessage: Bool
    /// The original message (header and body, as stored).
    public var original: [UInt8]
    /// The From: address (`mailerdaemon`); nil: MAILER-DAEMON@<reportingMTA>.
    public var mailerDaemon: String?
    /// Attach nothing of the original (`bounces_inline_original = none`).
    public var omitOriginal = false
    /// Longest original attached in full; a larger one is returned as headers only.
    public var maxReturnedSize = 1 << 20

    public init(
        reportingMTA: String, originalSender: String, originalEnvelopeID: String? = nil, arrivalDate: Date,
        recipients: [RecipientStatus], returnFullMessage: Bool, original: [UInt8]
    ) {
        self.reportingMTA = reportingMTA
        self.originalSender = originalSender
        self.originalEnvelopeID = originalEnvelopeID
        self.arrivalDate = arrivalDate
        self.recipients = recipients
        self.returnFullMessage = returnFullMessage
        self.original = original
    }

    /// RFC 5322 date-time, in UTC.
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }

    /// Header field text: no CR or LF of a peer's making, long values folded.
    static func clean(_ text: String) -> String {
        String(text.unicodeScalars.map { $0 == "\r" || $0 == "\n" || $0.value < 32 ? " " : Character($0) })
    }

    /// The complete message, CRLF line ends, with `messageID` and `boundary` (unique per report).
    public func render(messageID: String, boundary: String, now: Date = Date()) -> [UInt8] {
        let failed = recipients.filter { $0.action == .failed }
        let delayed = recipients.filter { $0.action == .delayed }
        var text = ""
        func line(_ value: String) { text += value + "\r\n" }
        line("From: Mail Delivery System <\(Self.clean(mailerDaemon ?? "MAILER-DAEMON@\(reportingMTA)"))>")
        line("To: <\(Self.clean(originalSender))>")
        let subject =
            !failed.isEmpty
            ? "Undelivered Mail Returned to Sender"
            : !delayed.isEmpty ? "Delayed Mail (still being retried)" : "Successful Mail Delivery Report"
        line("Subject: \(subject)")
        line("Date: \(Self.date(now))")
        line("Message-ID: <\(messageID)@\(reportingMTA)>")
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: multipart/report; report-type=delivery-status; boundary=\"\(boundary)\"")
        line("")
        line("This is a MIME-encapsulated message.")
        line("")
        line("--\(boundary)")
        line("Content-Type: text/plain; charset=us-ascii")
        line("Content-Description: Notification")
        line("")
        line("This is the mail system at host \(reportingMTA).")
        line("")
        if !failed.isEmpty {
            line("Your message could not be delivered to one or more recipients; it has been given up.")
            for recipient in failed { line("<\(Self.clean(recipient.address))>: \(Self.clean(recipient.diagnostic))") }
        }
        if !delayed.isEmpty {
            line("Delivery to these recipients is delayed; the mail system will go on trying.")
            for recipient in delayed { line("<\(Self.clean(recipient.address))>: \(Self.clean(recipient.diagnostic))") }
        }
        let others = recipients.filter { $0.action != .failed && $0.action != .delayed }
        if !others.isEmpty {
            line("Your message was handled for these recipients:")
            for recipient in others { line("<\(Self.clean(recipient.address))>: \(recipient.action.rawValue)") }
        }
        line("")
        line("--\(boundary)")
        line("Content-Type: message/delivery-status")
        line("Content-Description: Delivery report")
        line("")
        line("Reporting-MTA: dns; \(reportingMTA)")
        if let envelopeID = originalEnvelopeID { line("Original-Envelope-Id: \(Self.clean(envelopeID))") }
        line("Arrival-Date: \(Self.date(arrivalDate))")
        for recipient in recipients {
            line("")
            if let original = recipient.originalRecipient { line("Original-Recipient: \(Self.clean(original))") }
            line("Final-Recipient: rfc822; \(Self.clean(recipient.address))")
            line("Action: \(recipient.action.rawValue)")
            line("Status: \(recipient.status)")
            if let remote = recipient.remoteMTA { line("Remote-MTA: dns; \(Self.clean(remote))") }
            line("Diagnostic-Code: smtp; \(Self.clean(recipient.diagnostic))")
            if let last = recipient.lastAttempt { line("Last-Attempt-Date: \(Self.date(last))") }
            if let until = recipient.willRetryUntil { line("Will-Retry-Until: \(Self.date(until))") }
        }
        if omitOriginal {
            line("")
            line("--\(boundary)--")
            return Array(text.utf8)
        }
        line("")
        line("--\(boundary)")
        let full = returnFullMessage && original.count <= maxReturnedSize
        line("Content-Type: " + (full ? "message/rfc822" : "text/rfc822-headers"))
        line("Content-Description: " + (full ? "Undelivered Message" : "Undelivered Message Headers"))
        line("")
        var bytes = Array(text.utf8)
        bytes += full ? original : Self.headers(of: original, limit: maxReturnedSize)
        if bytes.last != 0x0A { bytes += [0x0D, 0x0A] }
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }

    /// The header section of a message (up to the empty line), with its CRLF; at most `limit`
    /// octets (a message without an empty line is all header).
    static func headers(of message: [UInt8], limit: Int = 1 << 20) -> [UInt8] {
        let end = min(message.count, limit)
        let cut = message.withUnsafeBytes { octets in
            HeaderSection.emptyLineOffset(in: UnsafeRawBufferPointer(rebasing: octets[..<end])).map { $0 + 2 }
        }
        return Array(message[..<(cut ?? end)])
    }
}
