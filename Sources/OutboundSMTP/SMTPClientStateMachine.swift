import Foundation

/// One outbound SMTP transaction as a state machine (RFC 5321 §3–4), independent of sockets: it
/// is told what the next hop said and answers with what to do next. Greeting, EHLO (HELO when
/// EHLO is refused), optional STARTTLS (RFC 3207), MAIL with SIZE / BODY / SMTPUTF8 / DSN
/// parameters the next hop offers (RFC 1870, 6152, 6531, 3461), RCPT for each recipient, DATA
/// and the message, QUIT. With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go in one write.
/// The outcome says, per recipient, delivered / temporary failure / permanent failure. In LMTP
/// mode (RFC 2033) it says LHLO, and the message gets one reply per accepted recipient. With
/// credentials it authenticates after EHLO (and TLS) with AUTH PLAIN or LOGIN (RFC 4954).
public struct SMTPClientStateMachine: Sendable {
    /// What to authenticate to the next hop with (RFC 4954; PLAIN is RFC 4616).
    public struct Credentials: Sendable, Equatable {
        public var user: String
        public var password: String
        /// `PLAIN` or `LOGIN`.
        public var mechanism: String
        /// Authenticate on a connection without TLS too (the password then travels readable).
        public var withoutTLS: Bool
        /// A configuration mistake that makes delivery fail temporarily instead of going without AUTH.
        public var problem: String?

        public init(user: String, password: String, mechanism: String, withoutTLS: Bool, problem: String? = nil) {
            self.user = user
            self.password = password
            self.mechanism = mechanism
            self.withoutTLS = withoutTLS
            self.problem = problem
        }
    }

    public struct Recipient: Sendable, Equatable {
        public var address: String
        /// RFC 3461 NOTIFY and ORCPT as the client gave them, passed on when the next hop has DSN.
        public var notify: String?
        public var originalRecipient: String?

        public init(address: String, notify: String? = nil, originalRecipient: String? = nil) {
            self.address = address
            self.notify = notify
            self.originalRecipient = originalRecipient
        }
    }

    public struct Envelope: Sendable, Equatable {
        public var mailFrom: String
        public var recipients: [Recipient]
        public var size: Int
        /// The message has octets over 127 (BODY=8BITMIME when offered).
        public var eightBit: Bool
        /// The envelope or headers need SMTPUTF8 (RFC 6531): a next hop without it is a permanent failure.
        public var needsSMTPUTF8: Bool
        public var dsnReturn: String?
        public var dsnEnvelopeID: String?

        public init(
            mailFrom: String, recipients: [Recipient], size: Int, eightBit: Bool = false, needsSMTPUTF8: Bool = false,
            dsnReturn: String? = nil, dsnEnvelopeID: String? = nil
        ) {
            self.mailFrom = mailFrom
            self.recipients = recipients
            self.size = size
            self.eightBit = eightBit
            self.needsSMTPUTF8 = needsSMTPUTF8
            self.dsnReturn = dsnReturn
            self.dsnEnvelopeID = dsnEnvelopeID
        }
    }

    public enum TLSPolicy: Sendable, Equatable {
        /// Never STARTTLS.
        case off
        /// STARTTLS when offered, plain text otherwise.
        case opportunistic
        /// STARTTLS or no delivery (a temporary failure: the next hop may offer it later).
        case required
    }

    /// What happened to one recipient.
    public enum RecipientOutcome: Sendable, Equatable {
        case delivered(SMTPServerReply)
        case transient(String)
        case permanent(String)
    }

    public enum Action: Sendable, Equatable {
        /// Write these command lines (each is sent with CRLF).
        case send([String])
        /// Start TLS on the connection, then call `tlsEstablished()`.
        case startTLS
        /// Write the message (DotStuffedDataEncoder's output), then wait for the reply.
        case sendMessage
        /// Nothing to do until the next reply.
        case wait
        /// The transaction is over: close (after QUIT, if `quit`), outcome per recipient, in order.
        case finished([RecipientOutcome], quit: Bool)
    }

    enum State: Sendable, Equatable {
        case greeting, ehlo, helo, startTLS, reset, mail, recipients, data, message, abortingData, done
        /// AUTH LOGIN sent (the user name is asked for next), the user name sent (the password),
        /// and the last AUTH step sent (235 expected).
        case authLogin, authLoginUser, auth
    }

    public private(set) var envelope: Envelope
    public let heloName: String
    public let tlsPolicy: TLSPolicy
    /// LMTP (RFC 2033): LHLO instead of EHLO, a reply per recipient after the message.
    public let lmtp: Bool
    /// LMTP: the replies to the message so far, one per accepted recipient in RCPT order.
    private var messageReplies: [SMTPServerReply] = []
    private(set) var state: State = .greeting
    /// STARTTLS succeeded on this connection.
    public private(set) var tlsActive = false
    /// EHLO keywords of the next hop (upper-cased keyword → parameters).
    public private(set) var extensions: [String: String] = [:]
    private var pipelining = false
    private var rcptReplies: [SMTPServerReply] = []
    /// Replies still expected in a pipelined group: MAIL, the RCPTs, DATA.
    private var pendingPipelined = 0
    private var mailReply: SMTPServerReply?
    /// The last transaction ended with the next hop's reply to the message (or to every RCPT),
    /// so another may follow on this connection (RFC 5321 §3.3).
    public private(set) var canStartAnotherTransaction = false
    /// The IP address of the next hop, for logs (set by the connection).
    public var remoteAddress = ""
    /// What to authenticate with after EHLO (set by the connection); nil: no AUTH.
    public var credentials: Credentials?
    /// AUTH succeeded on this connection.
    public private(set) var authenticated = false
    /// The last transaction left MAIL accepted without a message: RSET before the next one.
    private var needsReset = false
    /// DATA was sent and its own reply (not the message's) is what comes next.
    private var waitingForDataReply = true

    public init(envelope: Envelope, heloName: String, tlsPolicy: TLSPolicy = .opportunistic, lmtp: Bool = false) {
        self.envelope = envelope
        self.heloName = heloName
        self.tlsPolicy = tlsPolicy
        self.lmtp = lmtp
    }

    /// EHLO, or LHLO in LMTP mode.
    var greetingCommand: String { "\(lmtp ? "LHLO" : "EHLO") \(heloName)" }

    /// Every recipient with the same outcome.
    func all(_ outcome: RecipientOutcome) -> [RecipientOutcome] {
        Array(repeating: outcome, count: envelope.recipients.count)
    }

    func failAll(_ reply: SMTPServerReply, _ context: String) -> Action {
        let text = "\(context): \(reply)"
        return .finished(all(reply.isPermanent ? .permanent(text) : .transient(text)), quit: true)
    }

    /// A reply arrived.
    public mutating func received(_ reply: SMTPServerReply) -> Action {
        switch state {
        case .greeting:
            guard reply.code == 220 else { return failAll(reply, "greeting") }
            state = .ehlo
            return .send([greetingCommand])
        case .ehlo:
            guard reply.code == 250 else {
                if !lmtp && (reply.code == 502 || reply.code == 500 || reply.code == 501) {
                    state = .helo
                    return .send(["HELO \(heloName)"])
                }
                return failAll(reply, lmtp ? "LHLO" : "EHLO")
            }
            // A next hop that greets with our own name is this server: the mail would loop
            // (Postfix's "loops back to myself").
            if let name = reply.lines.first?.split(separator: " ").first, name.lowercased() == heloName.lowercased() {
                state = .done
                return .finished(
                    all(.permanent("554 5.4.6 mail loops back to myself (the next hop says EHLO as \(heloName))")),
                    quit: true)
            }
            extensions = [:]
            for line in reply.lines.dropFirst() {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard let keyword = parts.first else { continue }
                extensions[keyword.uppercased()] = parts.count > 1 ? String(parts[1]) : ""
            }
            pipelining = extensions["PIPELINING"] != nil
            if !tlsActive && tlsPolicy != .off && extensions["STARTTLS"] != nil {
                state = .startTLS
                return .send(["STARTTLS"])
            }
            if !tlsActive && tlsPolicy == .required {
                return .finished(
                    all(.transient("the next hop does not offer STARTTLS, which is required for this domain")),
                    quit: true)
            }
            return authenticateOrBegin()
        case .reset:
            guard reply.code == 250 else { return failAll(reply, "RSET") }
            return beginTransaction()
        case .helo:
            guard reply.code == 250 else { return failAll(reply, "HELO") }
            extensions = [:]
            if tlsPolicy == .required {
                return .finished(
                    all(.transient("the next hop does not offer STARTTLS (no EHLO), which is required")), quit: true)
            }
            return authenticateOrBegin()
        case .startTLS:
            guard reply.code == 220 else {
                if tlsPolicy == .required { return failAll(reply, "STARTTLS (required)") }
                // Opportunistic: go on in plain text.
                return authenticateOrBegin()
            }
            return .startTLS
        case .mail:
            if pipelining { return pipelinedReply(reply) }
            guard reply.code == 250 else { return failAll(reply, "MAIL FROM") }
            mailReply = reply
            state = .recipients
            return .send([rcptCommand(envelope.recipients[0])])
        case .recipients:
            if pipelining { return pipelinedReply(reply) }
            rcptReplies.append(reply)
            if rcptReplies.count < envelope.recipients.count {
                return .send([rcptCommand(envelope.recipients[rcptReplies.count])])
            }
            guard rcptReplies.contains(where: { $0.code == 250 || $0.code == 251 }) else {
                state = .done
                needsReset = true
                canStartAnotherTransaction = !rcptReplies.contains { $0.code == 421 }
                return .finished(rcptOutcomes(), quit: true)
            }
            state = .data
            return .send(["DATA"])
        case .data:
            if pipelining { return pipelinedReply(reply) }
            guard reply.code == 354 else { return finishedAfterData(failure: reply, context: "DATA") }
            state = .message
            return .sendMessage
        case .message where lmtp:
            // RFC 2033 §4.2: one reply per recipient RCPT accepted, in order.
            waitingForDataReply = false
            messageReplies.append(reply)
            let accepted = rcptReplies.filter { $0.code == 250 || $0.code == 251 }.count
            if messageReplies.count < accepted { return .wait }
            state = .done
            canStartAnotherTransaction = !messageReplies.contains { $0.code == 421 }
            return .finished(lmtpOutcomes(missing: .transient("no reply to the message")), quit: true)
        case .message:
            waitingForDataReply = false
            state = .done
            canStartAnotherTransaction = true
            if reply.code == 250 {
                return .finished(rcptOutcomes(accepted: .delivered(reply)), quit: true)
            }
            return finishedAfterData(failure: reply, context: "end of data")
        case .abortingData:
            state = .done
            canStartAnotherTransaction = true
            return .finished(rcptOutcomes(), quit: true)
        case .done:
            return .wait
        case .authLogin:
            guard reply.code == 334 else { return authFailed(reply) }
            state = .authLoginUser
            return .send([Self.base64(credentials?.user ?? "")])
        case .authLoginUser:
            guard reply.code == 334 else { return authFailed(reply) }
            state = .auth
            return .send([Self.base64(credentials?.password ?? "")])
        case .auth:
            guard reply.code == 235 else { return authFailed(reply) }
            authenticated = true
            return beginTransaction()
        }
    }

    /// After EHLO (and TLS): AUTH when there are credentials, else the transaction. AUTH needs
    /// TLS unless allowed without, and the mechanism among those the next hop offers; otherwise
    /// delivery fails temporarily (the next hop or the configuration may change).
    mutating func authenticateOrBegin() -> Action {
        guard let credentials, !authenticated else { return beginTransaction() }
        state = .done
        if let problem = credentials.problem { return .finished(all(.transient(problem)), quit: true) }
        guard tlsActive || credentials.withoutTLS else {
            return .finished(
                all(.transient("AUTH to the next hop needs TLS, and the connection has none (outbound_smtp_auth)")),
                quit: true)
        }
        let offered = (extensions["AUTH"] ?? "").uppercased().split(separator: " ").map(String.init)
        guard offered.contains(credentials.mechanism) else {
            return .finished(
                all(
                    .transient(
                        "the next hop does not offer AUTH \(credentials.mechanism) (it offers: \(offered.isEmpty ? "none" : offered.joined(separator: " ")))"
                    )),
                quit: true)
        }
        if credentials.mechanism == "LOGIN" {
            state = .authLogin
            return .send(["AUTH LOGIN"])
        }
        state = .auth
        return .send(["AUTH PLAIN " + Self.base64("\0\(credentials.user)\0\(credentials.password)")])
    }

    /// AUTH was refused: a temporary failure whatever the code (a wrong password is the
    /// sender's configuration, not the recipients' fault; Postfix defers too).
    func authFailed(_ reply: SMTPServerReply) -> Action {
        .finished(all(.transient("AUTH to the next hop failed: \(reply)")), quit: true)
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The message has 8-bit octets and the next hop did not offer 8BITMIME (known once EHLO
    /// was answered): it must be made 7-bit, or go as it is (RFC 6152 §3).
    public var needsSevenBit: Bool { envelope.eightBit && extensions["8BITMIME"] == nil }

    /// Gives up the transaction whose MAIL (and what follows) was decided but not yet sent:
    /// every recipient gets `outcome`, and the connection can carry another transaction.
    public mutating func abandonTransaction(_ outcome: RecipientOutcome) -> Action {
        state = .done
        pendingPipelined = 0
        mailReply = nil
        rcptReplies = []
        canStartAnotherTransaction = true
        return .finished(all(outcome), quit: true)
    }

    /// Starts another transaction on the same connection after `.finished` (when
    /// `canStartAnotherTransaction`): MAIL, RCPTs and DATA for `next`.
    public mutating func nextTransaction(_ next: Envelope) -> Action {
        envelope = next
        rcptReplies = []
        messageReplies = []
        mailReply = nil
        pendingPipelined = 0
        waitingForDataReply = true
        canStartAnotherTransaction = false
        if needsReset {
            needsReset = false
            state = .reset
            return .send(["RSET"])
        }
        return beginTransaction()
    }

    /// Momentum's connection stage code for logs (Momentum's log manual; the codes are listed in docs/delivery.md).
    public var stageCode: Int {
        switch state {
        case .greeting: return 12
        case .ehlo, .helo, .authLogin, .authLoginUser, .auth: return 10
        case .startTLS: return tlsActive ? 16 : 15
        case .reset: return 13
        case .mail:
            // Pipelined: the replies to MAIL, each RCPT and DATA arrive in turn.
            guard pipelining, mailReply != nil else { return 2 }
            return rcptReplies.count < envelope.recipients.count ? 4 : 6
        case .recipients: return 4
        case .data, .abortingData: return 6
        case .message: return 9
        case .done: return 1
        }
    }

    /// What the connection waits for now (its timeout is chosen by it).
    public enum Wait: Sendable { case greeting, ehlo, mail, recipients, data, body }

    public var waitingFor: Wait {
        switch state {
        case .greeting: return .greeting
        case .ehlo, .helo, .startTLS, .reset, .authLogin, .authLoginUser, .auth: return .ehlo
        case .mail: return pipelining ? .recipients : .mail
        case .recipients, .data, .abortingData: return .recipients
        case .message: return .body
        case .done: return .data
        }
    }

    /// TLS is up: say EHLO again (RFC 3207 §4.2: forget what was said before).
    public mutating func tlsEstablished() -> Action {
        tlsActive = true
        state = .ehlo
        return .send([greetingCommand])
    }

    /// The connection broke or timed out before the transaction ended.
    public func connectionLost(_ reason: String) -> [RecipientOutcome] {
        if state == .done { return rcptOutcomes() }
        // LMTP: recipients whose reply to the message came are settled by it (not sent twice).
        if lmtp && state == .message && !messageReplies.isEmpty { return lmtpOutcomes(missing: .transient(reason)) }
        // A refused MAIL (e.g. 421 before the next hop hung up) says more than the lost connection.
        if let mail = mailReply, mail.code != 250 {
            let text = "MAIL FROM: \(mail)"
            return all(mail.isPermanent ? .permanent(text) : .transient(text))
        }
        return all(.transient(reason))
    }

    mutating func beginTransaction() -> Action {
        if envelope.needsSMTPUTF8 && extensions["SMTPUTF8"] == nil {
            state = .done
            return .finished(
                all(.permanent("the next hop does not support SMTPUTF8, which this message needs (RFC 6531)")),
                quit: true)
        }
        if let limit = extensions["SIZE"].flatMap({ Int($0) }), limit > 0, envelope.size > limit {
            state = .done
            return .finished(
                all(.permanent("message size \(envelope.size) exceeds the next hop's limit of \(limit) (RFC 1870)")),
                quit: true)
        }
        state = .mail
        if pipelining {
            pendingPipelined = 2 + envelope.recipients.count
            return .send([mailCommand()] + envelope.recipients.map(rcptCommand) + ["DATA"])
        }
        return .send([mailCommand()])
    }

    func mailCommand() -> String {
        var command = "MAIL FROM:<\(envelope.mailFrom)>"
        if extensions["SIZE"] != nil { command += " SIZE=\(envelope.size)" }
        if envelope.eightBit && extensions["8BITMIME"] != nil { command += " BODY=8BITMIME" }
        if envelope.needsSMTPUTF8 { command += " SMTPUTF8" }
        if extensions["DSN"] != nil {
            if let ret = envelope.dsnReturn { command += " RET=\(ret)" }
            if let envid = envelope.dsnEnvelopeID { command += " ENVID=\(envid)" }
        }
        return command
    }

    func rcptCommand(_ recipient: Recipient) -> String {
        var command = "RCPT TO:<\(recipient.address)>"
        if extensions["DSN"] != nil {
            if let notify = recipient.notify { command += " NOTIFY=\(notify)" }
            if let orcpt = recipient.originalRecipient { command += " ORCPT=\(orcpt)" }
        }
        return command
    }

    /// Replies to a pipelined MAIL, RCPTs and DATA arrive in order (RFC 2920 §3.1).
    mutating func pipelinedReply(_ reply: SMTPServerReply) -> Action {
        pendingPipelined -= 1
        if mailReply == nil {
            mailReply = reply
            // 421: the next hop is closing the connection (RFC 5321 §3.8); the other replies
            // will not come.
            if reply.code == 421 {
                state = .done
                canStartAnotherTransaction = false
                return failAll(reply, "MAIL FROM")
            }
        } else if rcptReplies.count < envelope.recipients.count {
            rcptReplies.append(reply)
        } else {
            // DATA's reply: decide now that every earlier reply is in.
            guard mailReply?.code == 250 else { return failAll(mailReply!, "MAIL FROM") }
            guard rcptReplies.contains(where: { $0.code == 250 || $0.code == 251 }) else {
                // DATA was sent anyway (pipelining); after a 354 an empty message must be ended.
                if reply.code == 354 {
                    state = .abortingData
                    return .send(["."])
                }
                state = .done
                canStartAnotherTransaction = reply.code != 421 && !rcptReplies.contains { $0.code == 421 }
                return .finished(rcptOutcomes(), quit: true)
            }
            guard reply.code == 354 else { return finishedAfterData(failure: reply, context: "DATA") }
            state = .message
            return .sendMessage
        }
        return .wait
    }

    /// Outcomes from the RCPT replies; accepted recipients get `accepted` (or a temporary
    /// failure when the message never went through).
    func rcptOutcomes(accepted: RecipientOutcome? = nil) -> [RecipientOutcome] {
        envelope.recipients.indices.map { index in
            guard index < rcptReplies.count else { return .transient("no reply to RCPT") }
            let reply = rcptReplies[index]
            if reply.code == 250 || reply.code == 251 {
                return accepted ?? .transient("RCPT accepted but the message was not sent")
            }
            let text = "RCPT TO: \(reply)"
            return reply.isPermanent ? .permanent(text) : .transient(text)
        }
    }

    /// LMTP: each accepted recipient's outcome is its own reply to the message; `missing` for
    /// those whose reply has not come.
    func lmtpOutcomes(missing: RecipientOutcome) -> [RecipientOutcome] {
        var next = messageReplies.makeIterator()
        return envelope.recipients.indices.map { index -> RecipientOutcome in
            guard index < rcptReplies.count else { return .transient("no reply to RCPT") }
            let rcpt = rcptReplies[index]
            guard rcpt.code == 250 || rcpt.code == 251 else {
                let text = "RCPT TO: \(rcpt)"
                return rcpt.isPermanent ? .permanent(text) : .transient(text)
            }
            guard let answer = next.next() else { return missing }
            if answer.code == 250 { return .delivered(answer) }
            let text = "end of data: \(answer)"
            return answer.isPermanent ? .permanent(text) : .transient(text)
        }
    }

    mutating func finishedAfterData(failure reply: SMTPServerReply, context: String) -> Action {
        state = .done
        // A refused DATA leaves MAIL and the RCPTs in place.
        needsReset = reply.code != 354 && waitingForDataReply
        canStartAnotherTransaction = reply.code != 421
        let text = "\(context): \(reply)"
        return .finished(rcptOutcomes(accepted: reply.isPermanent ? .permanent(text) : .transient(text)), quit: true)
    }
}
