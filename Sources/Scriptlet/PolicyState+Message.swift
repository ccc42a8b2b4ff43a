import LuaBridge

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
        var index = 0
        while index + 3 < message.count {
            if message[index] == 13, message[index + 1] == 10, message[index + 2] == 13, message[index + 3] == 10 {
                return (index + 2, index + 4)
            }
            index += 1
        }
        return (message.count, message.count)
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

    /// The message as the callouts left it, when one of them changed it; nil otherwise. Forgets it.
    public func takeModifiedMessage(_ id: Int) -> [UInt8]? {
        messageSource[id] = nil
        guard let raw = (try? call(entry.takeMessage, [.number(Double(id))]))?.first?.octets else { return nil }
        return raw
    }
}
