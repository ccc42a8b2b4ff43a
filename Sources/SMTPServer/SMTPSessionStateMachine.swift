import Foundation
import ImpulseConfig
import NIOCore
import SMTPProtocol
import Scriptlet
import Spool

/// A context key the session sets before a policy callout (the predefined keys in docs/lua/objects.md).
public typealias PolicyContextUpdate = ContextUpdate

/// The inbound SMTP dialogue of one connection (RFC 5321 §4.1, §4.3): which command is allowed
/// when, what each one answers, and when a message is complete and must be spooled. It performs
/// no I/O: the channel handler feeds it events and performs the actions it returns. Handles
/// untrusted network input.
public struct SMTPSessionStateMachine {
    /// What the handler must do next.
    public enum Action: Equatable {
        case reply(SMTPReply)
        /// Send the reply, then close the connection.
        case replyAndClose(SMTPReply)
        /// Send 354 and read dot-stuffed message data.
        case beginData(SMTPReply)
        /// Read exactly `size` raw octets; store them only if `store` (a refused BDAT's octets are still read).
        case readChunk(size: Int, store: Bool)
        /// Send 220, discard anything pipelined behind STARTTLS, and start the TLS handshake.
        case startTLS(SMTPReply)
        /// Write the message to the spool; call `spoolCompleted` with the outcome.
        case spool(SpoolEnvelope, [ByteBuffer])
        /// Run a policy callout (after applying the context updates; `newMessage` empties the
        /// message context first); call `policyDecided` with the outcome.
        case consult(Callout, text: String?, context: [PolicyContextUpdate], newMessage: Bool)
        /// A script discarded the message (msg:discard): answer `reply`, log, spool nothing.
        case discarded(SMTPReply, id: String, reason: String)
        /// Check credentials an AUTH exchange gathered; call `authenticationDecided` with the verdict.
        case authenticate(SASLMechanism, SASLCredentials)
        /// A trusted proxy's XCLIENT: start the session again as this client (then greet it).
        case xclient(XClientIdentity)
    }

    /// What a policy callout is deciding, and what happens when it lets the command through.
    package enum PendingDecision {
        /// The connection's callouts (`core_validate_accept`, then `validate_connect`) still to run.
        case connect(steps: [Callout])
        case hello(name: String, extended: Bool)
        case mail(sender: Mailbox?, parameters: MailParameters)
        case recipient(Mailbox, RecipientParameters)
        /// `validate_rcptto_list` for a recipient `validate_rcptto` let through.
        case recipientList(Mailbox, RecipientParameters, reply: SMTPReply?)
        /// The message is complete; `steps` are the callouts still to run before spooling.
        case message(Transaction, ByteBuffer, steps: [(Callout, recipient: Int?)])
    }

    package struct Transaction {
        var sender: Mailbox?
        var parameters: MailParameters
        var recipients: [(Mailbox, RecipientParameters)] = []
        /// Octets of BDAT content received so far (stored or not).
        var chunkedSize = 0
        /// A BDAT chunk in this transaction was refused; later chunks are read and refused too.
        var chunkFailure: SMTPReply?
        var usedBDAT = false
        /// Given when the content is complete, so message-phase callouts see it (`msg.id`).
        var messageID: String?
        var receivedAt: Date?
    }

    package enum Phase: Equatable {
        case command
        case consulting
        case data
        case chunk(last: Bool)
        case spooling
        /// Inside an AUTH exchange: the next line is a response, not a command.
        case authenticating
        case closed
    }

    public let policy: InboundPolicy
    public let hostname: String
    /// Command lines received in this session (`max_commands_per_session`).
    package var commandCount = 0
    public let clientAddress: IPAddress
    public let clientPort: Int
    public let listener: String
    /// The client may relay: by address (relay_hosts, open_relay), or since it authenticated.
    public internal(set) var clientMayRelay: Bool
    public let tlsAvailable: Bool
    public internal(set) var tlsActive: Bool
    public internal(set) var tlsDescription: String?
    package let idGenerator: MessageIDGenerator

    package var phase: Phase = .command
    /// The domain of the RCPT being answered (metrics count a refused recipient by it); the
    /// handler clears it once the reply is written.
    package var lastRecipientDomain: String?

    /// The SMTP phase as Momentum's rejectlog names it (`P="awaiting mailfrom"`).
    package var rejectionPhase: String {
        switch phase {
        case .data, .chunk, .spooling: return "data"
        default: break
        }
        guard heloName != nil else { return "awaiting ehlo" }
        guard let transaction else { return "awaiting mailfrom" }
        return transaction.recipients.isEmpty ? "awaiting rcptto" : "awaiting data"
    }
    package var heloName: String?
    package var extendedMode = false
    package var transaction: Transaction?
    package var errorCount = 0
    package var receptions = 0
    /// RCPT commands that reached policy in this connection (`connection_rcpt_count`).
    package var connectionRecipients = 0
    /// Set when the server is shutting down: the current transaction may finish, nothing new starts.
    public internal(set) var draining = false
    package var pendingMessageID: String?
    /// A BDAT refused outside any transaction (its octets are read, then this is the reply).
    package var refusedChunk: SMTPReply?
    /// MAIL is consulted even without policy callouts: the server checks SPF before answering it.
    package var checksSender = false
    /// Callouts some policy module implements (the others are not consulted at all).
    public let policyCallouts: Set<Callout>
    package var pending: PendingDecision?
    /// What scripts decided about the current message (routing, binding, discard …).
    package var messageEdits = MessageEdits()
    /// The recipients scripts discarded from the message just spooled (address, reason), for the log.
    public internal(set) var recipientsDiscarded: [(address: String, reason: String)] = []
    /// EHLO keywords scripts added or removed (ac:esmtp_capability_add/remove).
    package var capabilitiesAdded: [String] = []
    package var capabilitiesRemoved: Set<String> = []
    /// The command line being handled, as text, for callouts that receive it (`str`).
    package var currentLine = ""
    /// The AUTH exchange under way, the user and mechanism once one succeeded, and failed
    /// attempts in this session.
    package var authExchange: SASLExchange?
    public internal(set) var authenticatedUser: String?
    public internal(set) var authenticatedMechanism: SASLMechanism?
    package var authFailures = 0

    public init(
        policy: InboundPolicy, hostname: String, clientAddress: IPAddress, clientPort: Int, listener: String,
        tlsAvailable: Bool, tlsActive: Bool, idGenerator: MessageIDGenerator, policyCallouts: Set<Callout> = []
    ) {
        self.policyCallouts = policyCallouts
        self.policy = policy
        self.hostname = hostname
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.listener = listener
        self.clientMayRelay = policy.clientMayRelay(clientAddress)
        self.tlsAvailable = tlsAvailable
        self.tlsActive = tlsActive
        self.idGenerator = idGenerator
    }

    package var limits: SMTPLimits { policy.limits }
    package var bannerName: String { policy.bannerHostname ?? hostname }

    /// The 220 greeting (RFC 5321 §4.3.1). No enhanced code: RFC 2034 §3 exempts the greeting.
    public func greeting() -> SMTPReply {
        if let banner = policy.staticBanner { return .staticGreeting(String(banner.dropFirst(4))) }
        return .greeting(bannerName)
    }

    /// The transaction's recipients, for `vctx:recipient_list` (nil outside a transaction).
    public var recipientsForPolicy: [String]? {
        if case .message(let transaction, _, _) = pending { return transaction.recipients.map { $0.0.description } }
        return transaction?.recipients.map { $0.0.description }
    }

    /// True when the recipient list may no longer change (after validate_rcptto_list_final).
    public func recipientListIsFinal(for callout: Callout) -> Bool {
        // validate_data and validate_data_spool may still change it (Momentum's manual adds a
        // recipient in validate_data): the per-recipient callouts then run for the new list.
        if case .message = pending { return !Self.beforeEachRecipient.contains(callout) }
        return false
    }

    /// The message callouts that run before the per-recipient ones.
    static let beforeEachRecipient: Set<Callout> = [.rcptToListFinal, .data, .dataSpool]

    /// A callout rewrote the recipient list. Addresses that do not parse are left out and
    /// returned; kept recipients keep their DSN parameters.
    @discardableResult
    public mutating func replaceRecipients(_ addresses: [String]) -> [String] {
        func rebuild(_ old: [(Mailbox, RecipientParameters)], utf8: Bool) -> (
            [(Mailbox, RecipientParameters)], [String]
        ) {
            let parser = MailPathParser(limits: limits, allowUTF8: utf8)
            var result: [(Mailbox, RecipientParameters)] = []
            var refused: [String] = []
            for address in addresses.prefix(limits.maxRecipientsPerMessage) {
                guard let mailbox = try? parser.parseForwardPath(Substring("<\(address)>")), !mailbox.domain.isEmpty
                else {
                    refused.append(address)
                    continue
                }
                let parameters =
                    old.first { $0.0.description.lowercased() == mailbox.description.lowercased() }?.1
                    ?? RecipientParameters()
                result.append((mailbox, parameters))
            }
            return (result, refused)
        }
        if case .message(var pendingTransaction, let message, let steps) = pending {
            let (list, refused) = rebuild(pendingTransaction.recipients, utf8: pendingTransaction.parameters.smtpUTF8)
            pendingTransaction.recipients = list
            // Changed before the per-recipient callouts began (the list is final after them): the
            // steps still to come, with per-recipient ones for the new list.
            let early = Self.beforeEachRecipient
            let earlyLeft = Set(steps.filter { $0.recipient == nil && early.contains($0.0) }.map(\.0))
            let rebuilt = messageSteps(recipients: list.count).filter { step in
                step.recipient != nil || !early.contains(step.0) || earlyLeft.contains(step.0)
            }
            pending = .message(pendingTransaction, message, steps: rebuilt)
            return refused
        }
        guard var current = transaction else { return addresses }
        let (list, refused) = rebuild(current.recipients, utf8: current.parameters.smtpUTF8)
        current.recipients = list
        transaction = current
        return refused
    }

    /// The complete message while its policy callouts run (for the handler to show to Lua).
    public var messageUnderPolicy: ByteBuffer? {
        if case .message(_, let message, _) = pending { return message }
        return nil
    }

    /// The spool id the message under policy will have.
    public var messageIDUnderPolicy: String? {
        if case .message(let transaction, _, _) = pending { return transaction.messageID }
        return nil
    }

    /// Names the complete message (id and reception time) before its callouts run.
    package mutating func identified(_ transaction: Transaction) -> Transaction {
        var transaction = transaction
        let now = Date()
        transaction.receivedAt = now
        transaction.messageID = idGenerator.next(now: now)
        return transaction
    }

    /// The first action of a session: the greeting, or first `validate_connect`.
    public mutating func start() -> Action {
        continueConnect(steps: [Callout.validateAccept, .connect].filter(policyCallouts.contains))
    }

    package mutating func continueConnect(steps: [Callout]) -> Action {
        guard let callout = steps.first else { return .reply(greeting()) }
        phase = .consulting
        pending = .connect(steps: Array(steps.dropFirst()))
        return .consult(callout, text: nil, context: [], newMessage: false)
    }

    /// True while a message transaction is open (MAIL given and not yet completed or reset).
    public var inTransaction: Bool { transaction != nil || phase != .command }

    // MARK: - Commands

    /// Handles one command line (CRLF removed).
    public mutating func receive(line: ByteBuffer) -> Action {
        if phase == .authenticating { return receiveAuthResponse(line) }
        guard phase == .command else { return .reply(.badSequence) }
        commandCount += 1
        if limits.maxCommandsPerSession > 0 && commandCount > limits.maxCommandsPerSession {
            return closeWith(.tooManyCommands(bannerName))
        }
        let context = SMTPParseContext(
            extendedMode: extendedMode, transactionUTF8: transaction?.parameters.smtpUTF8 ?? false,
            limits: limits)
        let command: SMTPCommand
        if !policyCallouts.isEmpty { currentLine = String(decoding: line.readableBytesView, as: UTF8.self) }
        do {
            command = try SMTPCommandParser.parse(line.readableBytesView, context: context)
        } catch {
            // A BDAT we cannot parse has no size we can trust: the stream is out of sync.
            if line.readableBytesView.prefix(4).map({ $0 & 0xDF }) == Array("BDAT".utf8) {
                return closeWith(.unparseableBDAT)
            }
            return failure(error.reply)
        }
        return handle(command)
    }

    /// A command line longer than the limit was discarded.
    public mutating func receiveOverlongLine() -> Action {
        if phase == .authenticating {
            phase = .command
            authExchange = nil
            return failure(.authLineTooLong)
        }
        return failure(.lineTooLong(limit: limits.maxCommandLineLength))
    }

    package mutating func handle(_ command: SMTPCommand) -> Action {
        if draining && transaction == nil, command != .quit {
            return closeWith(.shuttingDown(bannerName))
        }
        switch command {
        case .ehlo(let name), .helo(let name):
            let extended: Bool
            if case .ehlo = command { extended = true } else { extended = false }
            transaction = nil
            // With any policy loaded the ehlo_* keys are set even when no module implements validate_ehlo.
            guard !policyCallouts.isEmpty else { return hello(name: name, extended: extended) }
            phase = .consulting
            pending = .hello(name: name, extended: extended)
            return .consult(
                .ehlo, text: name,
                context: [
                    PolicyContextUpdate(message: false, key: "ehlo_string", value: name),
                    PolicyContextUpdate(message: false, key: "ehlo_domain", value: name)
                ],
                newMessage: false)
        case .mail(let sender, let parameters):
            return mail(sender, parameters)
        case .rcpt(let recipient, let parameters):
            lastRecipientDomain = recipient.domain
            return rcpt(recipient, parameters)
        case .data:
            guard let transaction else { return failure(.needMail) }
            guard !transaction.recipients.isEmpty else { return failure(.noValidRecipients) }
            guard !transaction.usedBDAT else { return failure(.dataAfterBDAT) }
            phase = .data
            return .beginData(.startMailInput)
        case .bdat(let size, let last):
            return bdat(size: size, last: last)
        case .rset:
            transaction = nil
            return .reply(.ok)
        case .noop:
            return .reply(.ok)
        case .quit:
            return .replyAndClose(.bye(bannerName))
        case .vrfy:
            return .reply(.cannotVerify)
        case .expn:
            return failure(.expnNotAvailable)
        case .help:
            return .reply(.help(startTLS: tlsAvailable && !tlsActive))
        case .startTLS:
            guard tlsAvailable, !tlsActive else {
                return failure(tlsActive ? .tlsAlreadyActive : .startTLSNotAvailable)
            }
            guard extendedMode else { return failure(.startTLSNeedsEHLO) }
            guard transaction == nil else { return failure(.startTLSInTransaction) }
            return .startTLS(.readyToStartTLS)
        case .auth(let mechanism, let initialResponse):
            return auth(mechanism: mechanism, initialResponse: initialResponse)
        case .xclient(let attributes):
            return xclient(attributes)
        }
    }

    package mutating func hello(name: String, extended: Bool, customText: String? = nil) -> Action {
        heloName = name
        extendedMode = extended
        if extended {
            var lines = ehloLines()
            if let customText { lines[0] = customText }
            return .reply(.ehlo(lines))
        }
        return .reply(.helo(customText ?? bannerName))
    }

    /// EHLO keywords (RFC 5321 §4.1.1.1) and the extensions Impulse honours.
    package func ehloLines() -> [String] {
        var lines = [
            "\(bannerName) Hello \(heloName ?? "") [\(clientAddress)]", "PIPELINING", "SIZE \(limits.maxMessageSize)",
            "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN"
        ]
        if tlsAvailable && !tlsActive { lines.append("STARTTLS") }
        let mechanisms = offeredMechanisms
        if !mechanisms.isEmpty { lines.append("AUTH " + mechanisms.map(\.rawValue).joined(separator: " ")) }
        if policy.xclientAllowed { lines.append("XCLIENT " + XClientIdentity.advertised) }
        lines.append("HELP")
        guard !capabilitiesAdded.isEmpty || !capabilitiesRemoved.isEmpty else { return lines }
        // Scripts' edits: never the greeting line, never a keyword twice.
        var edited =
            [lines[0]]
            + lines.dropFirst().filter { line in
                !capabilitiesRemoved.contains(String(line.split(separator: " ").first ?? "").uppercased())
            }
        for keyword in capabilitiesAdded
        where !edited.dropFirst().contains(where: { $0.uppercased() == keyword.uppercased() }) {
            edited.append(keyword)
        }
        return edited
    }

    package mutating func mail(_ sender: Mailbox?, _ parameters: MailParameters) -> Action {
        guard heloName != nil else { return failure(.needHelo) }
        guard transaction == nil else { return failure(.nestedMail) }
        if limits.maxReceptionsPerConnection > 0 && receptions >= limits.maxReceptionsPerConnection {
            return closeWith(.tooManyMessages)
        }
        if sender == nil && !policy.allowNullEnvelopeSender {
            return failure(.nullSenderRefused)
        }
        if policy.authenticationRequired && authenticatedUser == nil && !policy.clientMayRelay(clientAddress) {
            return failure(.authRequired)
        }
        var parameters = parameters
        // RFC 4954 §5: AUTH= from a client that has not authenticated is taken as AUTH=<>.
        if parameters.auth != nil && authenticatedUser == nil { parameters.auth = "<>" }
        // With any policy loaded, MAIL always goes through the policy state: the message context
        // must start empty and hold the mailfrom_* keys even when no module implements validate_mailfrom.
        guard !policyCallouts.isEmpty || checksSender else { return acceptMail(sender, parameters) }
        phase = .consulting
        pending = .mail(sender: sender, parameters: parameters)
        return .consult(
            .mailFrom, text: currentLine,
            context: [
                PolicyContextUpdate(message: false, key: "connection_message_count", value: String(receptions)),
                PolicyContextUpdate(message: true, key: "mailfrom_string", value: currentLine),
                PolicyContextUpdate(message: true, key: "mailfrom_localpart", value: sender?.localPart ?? ""),
                PolicyContextUpdate(message: true, key: "mailfrom_domain", value: sender?.domain ?? ""),
                PolicyContextUpdate(message: true, key: "mailfrom_address", value: sender?.description ?? "")
            ], newMessage: true)
    }

    package mutating func acceptMail(_ sender: Mailbox?, _ parameters: MailParameters, reply: SMTPReply? = nil)
        -> Action
    {
        transaction = Transaction(sender: sender, parameters: parameters)
        messageEdits = MessageEdits()
        return .reply(reply ?? .senderOk)
    }

    package mutating func rcpt(_ recipient: Mailbox, _ parameters: RecipientParameters) -> Action {
        guard transaction != nil else { return failure(.needMail) }
        guard transaction!.recipients.count < limits.maxRecipientsPerMessage else {
            // RFC 5321 §4.5.3.1.10: 452 for too many recipients, the client retries the rest later.
            return failure(.tooManyRecipients(limit: limits.maxRecipientsPerMessage))
        }
        var recipient = recipient
        let postmaster = recipient.domain.isEmpty
        if postmaster {
            // RFC 5321 §4.5.1: <Postmaster> without a domain must be accepted, from anyone.
            recipient = policy.postmasterAddress ?? Mailbox(localPart: "postmaster", domain: hostname)
        }
        if !clientMayRelay && !postmaster {
            if recipient.hadSourceRoute || recipient.hasRoutingCharacters {
                return failure(.sourceRouting("\(recipient)"))
            }
            guard policy.acceptsDomain(recipient.domain) else {
                return failure(.relayDenied("\(recipient)"))
            }
        }
        // Likewise the rcptto_* keys and counts, for every recipient.
        guard !policyCallouts.isEmpty else { return consultRecipientList(recipient, parameters, reply: nil) }
        phase = .consulting
        pending = .recipient(recipient, parameters)
        connectionRecipients += 1
        let counts = [
            PolicyContextUpdate(message: false, key: "connection_rcpt_count", value: String(connectionRecipients)),
            PolicyContextUpdate(
                message: true, key: "message_rcpt_count", value: String((transaction?.recipients.count ?? 0) + 1))
        ]
        return .consult(
            .rcptTo, text: currentLine, context: Self.recipientContext(recipient, line: currentLine) + counts,
            newMessage: false)
    }

    package static func recipientContext(_ recipient: Mailbox, line: String) -> [PolicyContextUpdate] {
        [
            PolicyContextUpdate(message: true, key: "rcptto_string", value: line),
            PolicyContextUpdate(message: true, key: "rcptto_localpart", value: recipient.localPart),
            PolicyContextUpdate(message: true, key: "rcptto_domain", value: recipient.domain),
            PolicyContextUpdate(message: true, key: "rcptto_address", value: recipient.description)
        ]
    }

    /// `validate_rcptto_list` sees each recipient before it joins the transaction.
    package mutating func consultRecipientList(
        _ recipient: Mailbox, _ parameters: RecipientParameters, reply: SMTPReply?
    )
        -> Action
    {
        guard policyCallouts.contains(.rcptToList) else { return acceptRecipient(recipient, parameters, reply: reply) }
        phase = .consulting
        pending = .recipientList(recipient, parameters, reply: reply)
        return .consult(.rcptToList, text: nil, context: [], newMessage: false)
    }

    package mutating func acceptRecipient(
        _ recipient: Mailbox, _ parameters: RecipientParameters, reply: SMTPReply? = nil
    )
        -> Action
    {
        transaction?.recipients.append((recipient, parameters))
        return .reply(reply ?? .recipientOk)
    }

    package mutating func bdat(size: Int, last: Bool) -> Action {
        phase = .chunk(last: last)
        guard extendedMode else {
            refusedChunk = .bdatNeedsEHLO
            return .readChunk(size: size, store: false)
        }
        guard var current = transaction, !current.recipients.isEmpty, current.chunkFailure == nil else {
            let reply =
                transaction?.chunkFailure
                ?? (transaction == nil
                    ? .needMail
                    : .noValidRecipients)
            transaction?.chunkFailure = reply
            return .readChunk(size: size, store: false)
        }
        current.usedBDAT = true
        current.chunkedSize += size
        if current.chunkedSize > limits.maxMessageSize {
            current.chunkFailure = .messageTooBig(limit: limits.maxMessageSize)
        }
        let store = current.chunkFailure == nil
        transaction = current
        return .readChunk(size: size, store: store)
    }

    // MARK: - Errors

    package mutating func failure(_ reply: SMTPReply) -> Action {
        errorCount += 1
        if errorCount >= limits.maxErrorsPerSession {
            phase = .closed
            return .replyAndClose(.tooManyErrors(bannerName, last: reply))
        }
        return .reply(reply)
    }

    package mutating func closeWith(_ reply: SMTPReply) -> Action {
        phase = .closed
        return .replyAndClose(reply)
    }
}
