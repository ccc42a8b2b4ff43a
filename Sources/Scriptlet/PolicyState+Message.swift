import Foundation
import LuaBridge
import NIOCore
import SMTPProtocol

/// The message and its envelope as the message-phase callouts see and change them: the content
/// offered on first use, recipient-list and envelope changes taken back after each callout.
extension PolicyState {
    /// The recipient list a callout changed (add_recipient, remove_recipient, recipient_list), or nil.
    public func takeRecipientChanges(_ id: Int) -> [String]? {
        guard recipientsChanged else { return nil }
        recipientsChanged = false
        guard case .string(let joined)? = try? call(entry.takeRecipients, [.number(Double(id))]).first else {
            return nil
        }
        return joined.split(separator: "\n").map(String.init)
    }

    /// Offers the complete message to the message-phase callouts (msg:header, msg:body …): `fetch`
    /// gives its octets the first time a script looks (policies that never read the content never
    /// copy it); Lua strings are byte strings, so nothing is converted.
    public func offerMessage(_ id: Int, size: Int, messageID: String? = nil, fetch: @escaping () -> [UInt8]) {
        messageSource[id] = fetch
        _ = try? call(
            entry.setMessage, [.number(Double(id)), .number(Double(size)), messageID.map { .string($0) } ?? .nil])
    }

    /// Where `message`'s header section ends (after its last line's CRLF) and its body starts
    /// (after the empty line, RFC 5322 §2.1); without an empty line it is all header.
    static func split(_ message: [UInt8]) -> (headEnd: Int, bodyStart: Int) {
        message.withUnsafeBytes { octets in
            guard let offset = HeaderSection.emptyLineOffset(in: octets) else { return (message.count, message.count) }
            return (offset + 2, offset + 4)
        }
    }

    /// Offers `message` (tests, and callers that have the octets at hand).
    public func setMessage(_ id: Int, _ message: [UInt8], messageID: String? = nil) {
        offerMessage(id, size: message.count, messageID: messageID) { message }
    }

    /// The envelope changes scripts made during the last callout (msg:mailfrom, msg:rcptto,
    /// msg:routing_domain, msg:binding, msg:discard, ac:esmtp_capability_*), or nil.
    public func takeChanges(_ id: Int) -> PolicyChanges? {
        guard changesPending else { return nil }
        changesPending = false
        guard let values = try? call(entry.takeChanges, [.number(Double(id))]), !values.isEmpty else { return nil }
        var changes = PolicyChanges()
        for index in stride(from: 0, to: values.count - 1, by: 2) {
            guard case .string(let key) = values[index], case .string(let value) = values[index + 1] else { continue }
            switch key {
            case "mailfrom": changes.mailFrom = value
            case "routing_domain": changes.routingDomain = value
            case "binding": changes.binding = value
            case "binding_group": changes.bindingGroup = value
            case "discard": changes.discard = value
            case "priority": changes.priority = Int(value)
            case "rcpt":
                let parts = value.split(separator: "\n", maxSplits: 1).map(String.init)
                if parts.count == 2 { changes.recipientRewrites.append((parts[0], parts[1])) }
            case "capability":
                if value.hasPrefix("+") { changes.capabilitiesAdded.append(String(value.dropFirst())) }
                if value.hasPrefix("-") { changes.capabilitiesRemoved.append(String(value.dropFirst())) }
            default: break
            }
        }
        return changes
    }

    /// The configuration's bindings (name → its binding_group, if any), for msg:binding and
    /// msg:binding_group.
    public func configureBindings(_ bindings: [(name: String, group: String?)]) {
        for binding in bindings {
            _ = try? lua.callInternal(.addBinding, [.string(binding.name), binding.group.map { .string($0) } ?? .nil])
        }
    }

    /// How the callouts changed the message, when one of them did.
    public enum ModifiedMessage: Equatable {
        /// Only header fields changed: the new header section, its empty line included; the
        /// body is the one received (from after the received message's empty line).
        case header([UInt8])
        /// The whole new text.
        case whole([UInt8])
    }

    /// The message as the callouts left it, when one of them changed it; nil otherwise. Forgets it.
    public func takeModifiedMessage(_ id: Int) -> ModifiedMessage? {
        messageSource[id] = nil
        guard let values = try? call(entry.takeMessage, [.number(Double(id))]), values.count == 2,
            let text = values[1].octets
        else { return nil }
        return values[0] == .string("header") ? .header(text) : .whole(text)
    }

    /// `message` with the changes applied: the body of `.header` is `message`'s own, shared,
    /// not copied.
    public static func apply(_ change: ModifiedMessage, to message: ByteBuffer) -> [ByteBuffer] {
        switch change {
        case .whole(let text):
            return [ByteBuffer(bytes: text)]
        case .header(let head):
            // The body starts after the first empty line, as where the header section was cut.
            let bodyOffset = message.withUnsafeReadableBytes { octets in
                HeaderSection.emptyLineOffset(in: octets).map { $0 + 4 } ?? octets.count
            }
            let body =
                message.getSlice(at: message.readerIndex + bodyOffset, length: message.readableBytes - bodyOffset)
                ?? ByteBuffer()
            return [ByteBuffer(bytes: head), body]
        }
    }
}
