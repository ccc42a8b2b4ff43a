/// The reply codes Impulse sends (RFC 5321 §4.2.2, <https://www.rfc-editor.org/rfc/rfc5321#section-4.2.2>;
/// 555 from RFC 5321 §4.1.1.11; 235, 334, 454, 500, 504, 530, 534, 535 and 538 for AUTH from
/// RFC 4954 §6).
public enum ReplyCode: Int, Sendable, CaseIterable {
    case helpMessage = 214
    case serviceReady = 220
    case closing = 221
    case authSucceeded = 235
    case completed = 250
    case cannotVerify = 252
    case authContinue = 334
    case startMailInput = 354
    case serviceNotAvailable = 421
    case localError = 451
    case insufficientStorage = 452
    case temporaryAuthFailure = 454
    case syntaxError = 500
    case argumentSyntaxError = 501
    case notImplemented = 502
    case badSequence = 503
    case parameterNotImplemented = 504
    case authRequired = 530
    case mechanismTooWeak = 534
    case authCredentialsInvalid = 535
    case encryptionRequired = 538
    case mailboxUnavailable = 550
    case exceededStorage = 552
    case mailboxNameNotAllowed = 553
    case transactionFailed = 554
    case parametersNotRecognized = 555

    /// The enhanced status code's class for this reply: 2 (success), 4 (persistent transient
    /// failure) or 5 (permanent failure); nil for 3xx, which carries none (RFC 3463 §3.1).
    var statusClass: Int? {
        switch rawValue / 100 {
        case 2, 4, 5: rawValue / 100
        default: nil
        }
    }
}

/// The subject and detail of an RFC 3463 enhanced status code
/// (<https://www.rfc-editor.org/rfc/rfc3463#section-3>); its class follows from the reply code,
/// so the two can never disagree.
public enum StatusDetail: String, Sendable, CaseIterable {
    /// X.0.0 Other undefined status.
    case undefined = "0.0"
    /// X.1.0 Other address status.
    case addressOther = "1.0"
    /// X.1.3 Bad destination mailbox address syntax.
    case badAddressSyntax = "1.3"
    /// X.1.5 Destination address valid.
    case destinationValid = "1.5"
    /// X.3.0 Other or undefined mail system status.
    case mailSystem = "3.0"
    /// X.3.1 Mail system full.
    case mailSystemFull = "3.1"
    /// X.3.2 System not accepting network messages.
    case notAcceptingMessages = "3.2"
    /// X.3.4 Message too big for system.
    case messageTooBig = "3.4"
    /// X.4.2 Bad connection.
    case badConnection = "4.2"
    /// X.4.5 Mail system congestion.
    case congestion = "4.5"
    /// X.4.6 Routing loop detected.
    case routingLoop = "4.6"
    /// X.5.1 Invalid command.
    case invalidCommand = "5.1"
    /// X.5.2 Syntax error.
    case syntaxError = "5.2"
    /// X.5.3 Too many recipients.
    case tooManyRecipients = "5.3"
    /// X.5.4 Invalid command arguments.
    case invalidArguments = "5.4"
    /// X.5.6 Authentication exchange line is too long (RFC 4954 §6).
    case authLineTooLong = "5.6"
    /// X.6.0 Other or undefined media error.
    case media = "6.0"
    /// X.6.7 Non-ASCII addresses not permitted for that sender/recipient (RFC 6531 §3.5).
    case nonASCIIAddress = "6.7"
    /// X.7.0 Other or undefined security status.
    case security = "7.0"
    /// X.7.1 Delivery not authorized, message refused.
    case notAuthorized = "7.1"
    /// X.7.8 Authentication credentials invalid (RFC 4954 §6).
    case credentialsInvalid = "7.8"
    /// X.7.9 Authentication mechanism is too weak (RFC 4954 §6).
    case mechanismTooWeak = "7.9"
    /// X.7.11 Encryption required for requested authentication mechanism (RFC 4954 §6).
    case encryptionRequired = "7.11"
}

extension SMTPReply {
    /// A reply with typed codes: the enhanced status code's class comes from `code`.
    public init(_ code: ReplyCode, _ detail: StatusDetail?, _ lines: [String]) {
        let enhanced = detail.flatMap { detail in code.statusClass.map { "\($0).\(detail.rawValue)" } }
        self.init(code.rawValue, enhanced, lines)
    }

    public init(_ code: ReplyCode, _ detail: StatusDetail?, _ text: String) {
        self.init(code, detail, [text])
    }
}
