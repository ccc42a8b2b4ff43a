/// Every reply Impulse's SMTP server sends, named once, with typed codes (ReplyCode,
/// StatusDetail). Code builds replies only from here — the code and text a policy sets with
/// `vctx:set_code` aside — and docs/inbound-smtp.md's reply table is tested against `catalogue`.
extension SMTPReply {
    // MARK: Greeting, closing and session limits (RFC 5321 §3.1, §4.5.3.2)

    /// The greeting: `220 <host> ESMTP Impulse` (or the configured static banner).
    public static func greeting(_ host: String) -> SMTPReply { SMTPReply(.serviceReady, nil, "\(host) ESMTP Impulse") }
    public static func staticGreeting(_ text: String) -> SMTPReply { SMTPReply(.serviceReady, nil, text) }
    public static func bye(_ host: String) -> SMTPReply { SMTPReply(.closing, .undefined, "\(host) Bye") }
    public static func shuttingDown(_ host: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .notAcceptingMessages, "\(host) Service shutting down, closing connection")
    }
    public static let shuttingDownBeforeGreeting = SMTPReply(
        .serviceNotAvailable, .notAcceptingMessages, "Service shutting down")
    public static let concurrencyLimit = SMTPReply(
        .serviceNotAvailable, .congestion, "Service unavailable, concurrency limit reached.")
    public static func timeoutExceeded(_ host: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .badConnection, "\(host) Error: timeout exceeded")
    }
    public static func sessionTooLong(_ host: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .badConnection, "\(host) Error: session too long, closing connection")
    }
    public static func tooManyCommands(_ host: String) -> SMTPReply {
        SMTPReply(
            .serviceNotAvailable, .security, "\(host) Error: too many commands in one session, closing connection")
    }
    public static func tooManyErrors(_ host: String, last: SMTPReply) -> SMTPReply {
        SMTPReply(
            .serviceNotAvailable, .security,
            "\(host) Too many errors (last: \(last.code) \(last.lines.last ?? "")), closing connection")
    }
    public static let tooManyMessages = SMTPReply(
        .serviceNotAvailable, .security, "Too many messages in this session, closing connection")
    /// A callout failed at connect: the session cannot be decided.
    public static func policyFailureAtConnect(_ host: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .mailSystem, "\(host) Temporary local problem, closing connection")
    }

    // MARK: Authentication (RFC 4954 §4, §6)

    public static let authSucceeded = SMTPReply(.authSucceeded, .security, "Authentication successful")
    /// A SASL challenge, base64 (an empty text for an empty challenge).
    public static func authChallenge(_ base64: String) -> SMTPReply { SMTPReply(.authContinue, nil, base64) }
    public static let authNotAvailable = SMTPReply(
        .notImplemented, .invalidCommand, "Error: authentication not enabled")
    public static let authNeedsEHLO = SMTPReply(.badSequence, .invalidCommand, "Error: send EHLO first")
    public static let authAlreadyDone = SMTPReply(.badSequence, .invalidCommand, "Error: already authenticated")
    public static let authInTransaction = SMTPReply(
        .badSequence, .invalidCommand, "Error: AUTH is not permitted during a mail transaction")
    public static let authMechanismUnknown = SMTPReply(
        .parameterNotImplemented, .invalidArguments, "Unrecognized authentication mechanism")
    public static let authCancelled = SMTPReply(.argumentSyntaxError, .security, "Authentication cancelled")
    public static let authBadEncoding = SMTPReply(
        .argumentSyntaxError, .syntaxError, "Cannot decode the response (base64 expected)")
    public static let authLineTooLong = SMTPReply(
        .syntaxError, .authLineTooLong, "Authentication exchange line is too long")
    public static let authInvalid = SMTPReply(
        .authCredentialsInvalid, .credentialsInvalid, "Authentication credentials invalid")
    public static let authMechanismTooWeak = SMTPReply(
        .mechanismTooWeak, .mechanismTooWeak, "Authentication mechanism is too weak for this user")
    public static let authTemporaryFailure = SMTPReply(
        .temporaryAuthFailure, .security, "Temporary authentication failure")
    public static let authEncryptionRequired = SMTPReply(
        .encryptionRequired, .encryptionRequired, "Encryption required for requested authentication mechanism")
    public static let authRequired = SMTPReply(.authRequired, .security, "Authentication required")
    public static let tooManyAuthFailures = SMTPReply(
        .serviceNotAvailable, .security, "Too many failed authentications, closing connection")

    // MARK: XCLIENT (Postfix's XCLIENT_README)

    public static let xclientNotAuthorized = SMTPReply(
        .mailboxUnavailable, .security, "Error: insufficient authorization")
    public static let xclientInTransaction = SMTPReply(
        .badSequence, .invalidCommand, "Error: XCLIENT is not permitted during a mail transaction")
    public static func unknownXClientAttribute(_ name: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "Bad XCLIENT attribute name: \(name)")
    }
    public static let xclientBadAddress = SMTPReply(.argumentSyntaxError, .invalidArguments, "Bad XCLIENT ADDR or PORT")

    // MARK: Commands (RFC 5321 §4.1)

    /// The EHLO reply: the greeting line (the host, or a policy's text), then the extensions.
    public static func ehlo(_ lines: [String]) -> SMTPReply { SMTPReply(.completed, nil, lines) }
    /// The HELO reply: the host (or a policy's text).
    public static func helo(_ text: String) -> SMTPReply { SMTPReply(.completed, nil, text) }
    public static let ok = SMTPReply(.completed, .undefined, "Ok")
    public static let senderOk = SMTPReply(.completed, .addressOther, "Ok")
    public static let recipientOk = SMTPReply(.completed, .destinationValid, "Ok")
    public static let startMailInput = SMTPReply(.startMailInput, nil, "End data with <CR><LF>.<CR><LF>")
    public static func queued(_ id: String) -> SMTPReply { SMTPReply(.completed, .undefined, "Ok: queued as \(id)") }
    public static func chunkReceived(_ octets: Int) -> SMTPReply {
        SMTPReply(.completed, .undefined, "\(octets) octets received")
    }
    public static let cannotVerify = SMTPReply(
        .cannotVerify, .syntaxError,
        "Cannot VRFY user, but will accept message and attempt delivery")
    public static let expnNotAvailable = SMTPReply(.notImplemented, .invalidCommand, "EXPN not available")
    public static func help(startTLS: Bool) -> SMTPReply {
        SMTPReply(
            .helpMessage, .undefined,
            [
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP" + (startTLS ? " STARTTLS" : ""),
                "See RFC 5321"
            ])
    }
    public static let readyToStartTLS = SMTPReply(.serviceReady, .undefined, "Ready to start TLS")
    public static let tlsAlreadyActive = SMTPReply(.badSequence, .invalidCommand, "TLS already active")
    public static let startTLSNotAvailable = SMTPReply(.notImplemented, .invalidCommand, "STARTTLS not available")
    public static let startTLSNeedsEHLO = SMTPReply(.badSequence, .invalidCommand, "Send EHLO first")
    public static let startTLSInTransaction = SMTPReply(
        .badSequence, .invalidCommand, "STARTTLS not allowed during a mail transaction")
    public static let pipelinedAfterStartTLS = SMTPReply(
        .transactionFailed, .invalidCommand,
        "Commands pipelined after STARTTLS are not allowed, closing connection")

    // MARK: Sequence (RFC 5321 §4.1.4)

    public static let badSequence = SMTPReply(.badSequence, .invalidCommand, "Bad sequence of commands")
    public static let needHelo = SMTPReply(.badSequence, .invalidCommand, "Error: send HELO/EHLO first")
    public static let nestedMail = SMTPReply(.badSequence, .invalidCommand, "Error: nested MAIL command")
    public static let needMail = SMTPReply(.badSequence, .invalidCommand, "Error: need MAIL command")
    public static let noValidRecipients = SMTPReply(.transactionFailed, .invalidCommand, "Error: no valid recipients")
    public static let noRecipientsLeftAfterPolicy = SMTPReply(
        .transactionFailed, .invalidCommand,
        "Error: no valid recipients left after policy")
    public static let dataAfterBDAT = SMTPReply(.badSequence, .invalidCommand, "Error: DATA cannot follow BDAT")
    public static let bdatNeedsEHLO = SMTPReply(.badSequence, .invalidCommand, "BDAT requires EHLO")
    public static let unparseableBDAT = SMTPReply(
        .transactionFailed, .invalidCommand, "Unparseable BDAT, closing connection")

    // MARK: Command syntax (RFC 5321 §4.1.1, §4.5.3.1)

    public static let invalidCharacter = SMTPReply(.syntaxError, .syntaxError, "Invalid character in command")
    public static let invalidUTF8 = SMTPReply(.syntaxError, .syntaxError, "Command is not valid UTF-8")
    public static let commandUnrecognized = SMTPReply(.syntaxError, .invalidCommand, "Command unrecognized")
    public static func lineTooLong(limit: Int) -> SMTPReply {
        SMTPReply(.syntaxError, .syntaxError, "Line too long (limit \(limit) octets including CRLF)")
    }
    public static func needsDomain(_ verb: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "\(verb) requires a domain or address literal")
    }
    public static func argumentTooLong(_ verb: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "\(verb) argument too long")
    }
    public static func needsArgument(_ verb: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "\(verb) requires an argument")
    }
    public static func takesNoArgument(_ verb: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "\(verb) takes no argument")
    }
    public static func usage(_ syntax: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "Syntax: \(syntax)")
    }
    public static let textAfterAddress = SMTPReply(
        .argumentSyntaxError, .invalidArguments, "Unexpected text after address")

    // MARK: ESMTP parameters (RFC 5321 §4.1.2, RFC 1870, RFC 6152, RFC 3461, RFC 6531)

    public static func duplicateParameter(_ keyword: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "Duplicate \(keyword) parameter")
    }
    public static func invalidParameterValue(_ what: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .invalidArguments, "Invalid \(what)")
    }
    public static let invalidParameterKeyword = SMTPReply(
        .argumentSyntaxError, .invalidArguments, "Invalid parameter keyword")
    public static let smtputf8TakesNoValue = SMTPReply(
        .argumentSyntaxError, .invalidArguments, "SMTPUTF8 takes no value")
    public static func unsupportedParameter(_ keyword: String) -> SMTPReply {
        SMTPReply(.parametersNotRecognized, .invalidArguments, "Unsupported parameter \(keyword)")
    }
    public static let parametersOnlyAfterEHLO = SMTPReply(
        .parametersNotRecognized, .invalidArguments, "Parameters are only allowed after EHLO")

    // MARK: Addresses (RFC 5321 §4.1.2, RFC 6531)

    public static func badAddressSyntax(_ what: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .badAddressSyntax, "Bad address syntax: \(what)")
    }
    public static func addressPartTooLong(_ what: String) -> SMTPReply {
        SMTPReply(.argumentSyntaxError, .badAddressSyntax, "\(what) too long")
    }
    public static let nonASCIIWithoutSMTPUTF8 = SMTPReply(
        .mailboxNameNotAllowed, .nonASCIIAddress, "Non-ASCII address requires SMTPUTF8")
    public static let nullSenderRefused = SMTPReply(
        .mailboxUnavailable, .notAuthorized, "Null sender not accepted here")
    public static func tooManyRecipients(limit: Int) -> SMTPReply {
        SMTPReply(.insufficientStorage, .tooManyRecipients, "Too many recipients (limit \(limit))")
    }
    public static func sourceRouting(_ recipient: String) -> SMTPReply {
        SMTPReply(.mailboxUnavailable, .notAuthorized, "<\(recipient)>: sender-specified routing is not allowed")
    }
    public static func relayDenied(_ recipient: String) -> SMTPReply {
        SMTPReply(.mailboxUnavailable, .notAuthorized, "<\(recipient)>: Relay access denied")
    }

    // MARK: Message content (RFC 5321 §4.5.3.1, §2.3.8, §6.3)

    public static func messageTooBig(limit: Int) -> SMTPReply {
        SMTPReply(.exceededStorage, .messageTooBig, "Message size exceeds fixed limit of \(limit) octets")
    }
    public static let bareLineEnd = SMTPReply(
        .transactionFailed, .media,
        "Message contains a bare CR or LF; only CRLF line ends are allowed (RFC 5321 §2.3.8)")
    public static func textLineTooLong(limit: Int) -> SMTPReply {
        SMTPReply(.transactionFailed, .media, "Message has a line longer than \(limit) octets (RFC 5321 §4.5.3.1.6)")
    }
    public static func tooManyHops(limit: Int) -> SMTPReply {
        SMTPReply(
            .transactionFailed, .routingLoop, "Too many hops: more than \(limit) Received: header fields (mail loop?)")
    }
    public static func headerSectionTooLarge(limit: Int) -> SMTPReply {
        SMTPReply(.exceededStorage, .messageTooBig, "Message header section larger than \(limit) octets")
    }
    public static func tooManyHeaderFields(limit: Int) -> SMTPReply {
        SMTPReply(.exceededStorage, .messageTooBig, "Message has more than \(limit) header fields")
    }

    // MARK: Local conditions

    public static let localError = SMTPReply(
        .localError, .mailSystem, "Requested action aborted: local error in processing")
    public static let insufficientStorage = SMTPReply(
        .insufficientStorage, .mailSystemFull, "Insufficient system storage, try again later")

    /// Every reply above (those that take arguments with sample ones), for the documentation
    /// check and the reply tests.
    public static var catalogue: [SMTPReply] {
        let host = "mx.example.test"
        return [
            greeting(host), staticGreeting("mx ESMTP"), bye(host), shuttingDown(host), shuttingDownBeforeGreeting,
            concurrencyLimit,
            timeoutExceeded(host), sessionTooLong(host), tooManyCommands(host), tooManyErrors(host, last: badSequence),
            tooManyMessages, policyFailureAtConnect(host),
            ehlo([host, "PIPELINING", "SIZE 1000"]), helo(host), ok, senderOk, recipientOk, startMailInput,
            queued("1A2B"), chunkReceived(100), cannotVerify, expnNotAvailable,
            help(startTLS: true), readyToStartTLS, tlsAlreadyActive, startTLSNotAvailable, startTLSNeedsEHLO,
            startTLSInTransaction,
            pipelinedAfterStartTLS,
            badSequence, needHelo, nestedMail, needMail, noValidRecipients, noRecipientsLeftAfterPolicy, dataAfterBDAT,
            bdatNeedsEHLO,
            unparseableBDAT,
            invalidCharacter, invalidUTF8, commandUnrecognized, lineTooLong(limit: 512), needsDomain("EHLO"),
            argumentTooLong("EHLO"),
            needsArgument("VRFY"), takesNoArgument("DATA"), usage("BDAT <size> [LAST]"), textAfterAddress,
            duplicateParameter("SIZE"), invalidParameterValue("SIZE value"), invalidParameterKeyword,
            smtputf8TakesNoValue,
            unsupportedParameter("X"), parametersOnlyAfterEHLO,
            badAddressSyntax("missing '>'"), addressPartTooLong("Local part"), nonASCIIWithoutSMTPUTF8,
            nullSenderRefused,
            tooManyRecipients(limit: 100), sourceRouting("a%b@c"), relayDenied("a@b"),
            messageTooBig(limit: 1000), bareLineEnd, textLineTooLong(limit: 1000), tooManyHops(limit: 50),
            headerSectionTooLarge(limit: 1000), tooManyHeaderFields(limit: 10),
            localError, insufficientStorage,
            authSucceeded, authChallenge("VXNlcm5hbWU6"), authNotAvailable, authNeedsEHLO, authAlreadyDone,
            authInTransaction, authMechanismUnknown, authCancelled, authBadEncoding, authLineTooLong, authInvalid,
            authMechanismTooWeak, authTemporaryFailure, authEncryptionRequired, authRequired, tooManyAuthFailures,
            xclientNotAuthorized, xclientInTransaction, unknownXClientAttribute("FOO"), xclientBadAddress
        ]
    }
}
