/// A parsed SMTP command (RFC 5321 §4.1.1, RFC 3030 BDAT, RFC 3207 STARTTLS).
public enum SMTPCommand: Sendable, Equatable {
    case helo(String)
    case ehlo(String)
    /// `nil` sender is the null reverse path `<>`.
    case mail(Mailbox?, MailParameters)
    case rcpt(Mailbox, RecipientParameters)
    case data
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case vrfy(String)
    case expn(String)
    case help(String?)
    case startTLS
}

/// A command that could not be parsed, with the reply it maps to.
public struct SMTPCommandError: Error, Equatable, Sendable {
    public var reply: SMTPReply
    public init(_ reply: SMTPReply) { self.reply = reply }
}

/// What the parser needs to know about the session.
public struct SMTPParseContext: Sendable {
    /// EHLO (not HELO) was used, so service extensions and their parameters are allowed.
    public var extendedMode: Bool
    /// The current transaction's MAIL carried SMTPUTF8 (RFC 6531 §3.4): RCPT may be UTF-8.
    public var transactionUTF8: Bool
    public var limits: SMTPLimits

    public init(extendedMode: Bool, transactionUTF8: Bool, limits: SMTPLimits) {
        self.extendedMode = extendedMode
        self.transactionUTF8 = transactionUTF8
        self.limits = limits
    }
}
