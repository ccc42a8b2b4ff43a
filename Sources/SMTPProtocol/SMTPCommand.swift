/// A parsed SMTP command (RFC 5321 §4.1.1, RFC 3030 BDAT, RFC 3207 STARTTLS, RFC 4954 AUTH).
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
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4): the mechanism upper-cased; the initial
    /// response as sent (base64, `=` for an empty one), nil when there was none.
    case auth(mechanism: String, initialResponse: String?)
    /// Postfix's XCLIENT extension: `XCLIENT attribute=value …`, names upper-cased, values
    /// xtext-decoded (RFC 3461 §4), in the order sent.
    case xclient([XClientAttribute])
}

/// One `name=value` of an XCLIENT command (Postfix's XCLIENT_README).
public struct XClientAttribute: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The attributes Impulse takes: the client's address, port, reverse name, HELO name,
    /// protocol and SASL login name.
    public static let known: Set<String> = ["ADDR", "PORT", "NAME", "HELO", "PROTO", "LOGIN"]
}

/// The SASL mechanisms Impulse's server offers (RFC 4954 §4; PLAIN: RFC 4616; LOGIN: the
/// widely deployed draft-murchison-sasl-login; CRAM-MD5: RFC 2195).
public enum SASLMechanism: String, Sendable, CaseIterable, Hashable {
    case plain = "PLAIN"
    case login = "LOGIN"
    case cramMD5 = "CRAM-MD5"

    /// Whether the client sends the password itself (readable by anyone on the wire without TLS).
    public var sendsPassword: Bool { self != .cramMD5 }
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
