import Foundation
import ImpulseConfig
import NIOCore
import SMTPProtocol
import Scriptlet
import Spool

/// The message content's checks at the end of DATA or the last BDAT chunk (line rules, header
/// section, size, hops) and the spool request with its Received: field (RFC 5321 §4.4).
extension SMTPSessionStateMachine {
    /// DATA content ended with CRLF.CRLF.
    public mutating func dataCompleted(_ message: ByteBuffer, _ result: DotStuffedDataDecoder.Result) -> Action {
        guard phase == .data, let transaction else { return .reply(.badSequence) }
        phase = .command
        if result.exceededSize {
            self.transaction = nil
            return failure(.messageTooBig(limit: limits.maxMessageSize))
        }
        if result.abandoned {
            self.transaction = nil
            return .reply(Self.insufficientStorage)
        }
        if let refusal = lineRuleRefusal(bare: result.sawBareLF || result.sawBareCR, long: result.sawLongLine) {
            self.transaction = nil
            return failure(refusal)
        }
        return checkedMessage(transaction, message)
    }

    /// The reply for content that breaks the line rules (RFC 5321 §2.3.8 line ends — unless
    /// `rfc2822_lone_lf_in_body` lets bare ones through — and §4.5.3.1.6 line length), or nil.
    package func lineRuleRefusal(bare: Bool, long: Bool) -> SMTPReply? {
        if bare && policy.bareLineEndings == .reject {
            return .bareLineEnd
        }
        if long { return .textLineTooLong(limit: limits.maxTextLineLength) }
        return nil
    }

    /// The header section within its limits (a mail loop, its size, its field count) goes on to
    /// the message callouts; otherwise the transaction ends with the refusal.
    package mutating func checkedMessage(_ transaction: Transaction, _ message: ByteBuffer) -> Action {
        if let refusal = HeaderSectionCheck(message.readableBytesView, limits: limits).refusal(limits: limits) {
            self.transaction = nil
            return failure(refusal)
        }
        return continueMessage(
            identified(transaction), message, steps: messageSteps(recipients: transaction.recipients.count))
    }

    /// A BDAT chunk's octets were read (`content` holds the whole message so far when it was stored).
    public mutating func chunkCompleted(message: ByteBuffer?, abandoned: Bool = false) -> Action {
        guard case .chunk(let last) = phase else { return .reply(.badSequence) }
        phase = .command
        if abandoned && transaction != nil {
            transaction = nil
            return .reply(Self.insufficientStorage)
        }
        if let refusal = refusedChunk {
            refusedChunk = nil
            return failure(refusal)
        }
        guard let transaction else { return failure(.needMail) }
        if let refusal = transaction.chunkFailure {
            if last || refusal.code == 552 { self.transaction = nil }
            return failure(refusal)
        }
        guard last else { return .reply(.chunkReceived(transaction.chunkedSize)) }
        var content = message ?? ByteBuffer()
        // BDAT carries octets unframed: the line rules DATA's decoder applies hold for it too,
        // and under `fix` its bare line ends are stored as CRLF as DATA's are.
        var lines = MessageLineCheck(content.readableBytesView, maxLineLength: limits.maxTextLineLength)
        if (lines.sawBareLF || lines.sawBareCR) && policy.bareLineEndings == .normalize {
            content = MessageLineCheck.normalizingLineEnds(content)
            lines = MessageLineCheck(content.readableBytesView, maxLineLength: limits.maxTextLineLength)
            if content.readableBytes > limits.maxMessageSize {
                self.transaction = nil
                return failure(.messageTooBig(limit: limits.maxMessageSize))
            }
        }
        if let refusal = lineRuleRefusal(bare: lines.sawBareLF || lines.sawBareCR, long: lines.sawLongLine) {
            self.transaction = nil
            return failure(refusal)
        }
        return checkedMessage(transaction, content)
    }

    package mutating func spool(_ transaction: Transaction, _ message: ByteBuffer) -> Action {
        let now = transaction.receivedAt ?? Date()
        let id = transaction.messageID ?? idGenerator.next(now: now)
        var envelope = SpoolEnvelope(
            id: id, receivedAtMicros: Int64(now.timeIntervalSince1970 * 1_000_000),
            mailFrom: transaction.sender?.description ?? "",
            recipients: transaction.recipients.map {
                SpoolEnvelope.Recipient(
                    address: $0.0.description, notify: $0.1.notify?.description,
                    originalRecipient: $0.1.originalRecipient)
            },
            peerAddress: clientAddress.description, peerPort: clientPort, helo: heloName ?? "",
            receivedProtocol: receivedProtocol(utf8: transaction.parameters.smtpUTF8), listener: listener,
            context: Dictionary(policy.context.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }))
        envelope.declaredSize = transaction.parameters.size
        envelope.body = transaction.parameters.body?.rawValue
        envelope.smtpUTF8 = transaction.parameters.smtpUTF8
        envelope.dsnReturn = transaction.parameters.ret?.rawValue
        envelope.dsnEnvelopeID = transaction.parameters.envelopeID
        envelope.tls = tlsDescription
        envelope.routingDomain = messageEdits.routingDomain
        envelope.binding = messageEdits.binding
        envelope.bindingGroup = messageEdits.bindingGroup
        envelope.priority = messageEdits.priority
        recipientsDiscarded = []
        if !messageEdits.recipients.isEmpty {
            recipientsDiscarded = RecipientEdits.apply(messageEdits.recipients, to: &envelope)
        }
        var parts: [ByteBuffer] = []
        if policy.traceHeaders {
            parts.append(
                ReceivedHeader.make(
                    helo: heloName ?? "", client: clientAddress.description,
                    byHost: policy.receivedHostname ?? hostname, protocolName: envelope.receivedProtocol,
                    id: id,
                    recipient: envelope.recipients.count == 1 ? envelope.recipients[0].address : nil,
                    tls: tlsDescription, date: now))
        }
        parts.append(message)
        self.transaction = nil
        phase = .spooling
        pendingMessageID = id
        return .spool(envelope, parts)
    }

    /// The server holds as much message data as `reception_memory_limit` allows (RFC 5321 §4.5.3.1.10 style temporary
    /// failure).
    package static let insufficientStorage = SMTPReply.insufficientStorage

    /// RFC 3848 protocol keyword for the Received: header (RFC 6531 §3.7.3 for UTF8SMTP): S for
    /// TLS, A for an authenticated client.
    package func receivedProtocol(utf8: Bool) -> String {
        guard extendedMode else { return "SMTP" }
        return (utf8 ? "UTF8SMTP" : "ESMTP") + (tlsActive ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }

    /// The message was refused on its way to the spool (DMARC enforcement): nothing was written,
    /// the client gets `reply`.
    public mutating func spoolRefused(_ reply: SMTPReply) -> Action {
        guard phase == .spooling else { return .reply(.badSequence) }
        phase = .command
        pendingMessageID = nil
        return failure(reply)
    }

    /// The spool write finished: 250 only when it is durable, 451 4.3.0 otherwise.
    public mutating func spoolCompleted(success: Bool) -> Action {
        guard phase == .spooling else { return .reply(.badSequence) }
        phase = .command
        defer { pendingMessageID = nil }
        guard success else { return failure(.localError) }
        receptions += 1
        let reply = SMTPReply.queued(pendingMessageID ?? "")
        if draining { return .replyAndClose(reply) }
        return .reply(reply)
    }
}
