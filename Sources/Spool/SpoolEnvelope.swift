import Foundation

/// Everything about a message except its content: what the client said in the SMTP envelope,
/// who the client was and how it connected. Stored as one JSON line in the spool file.
public struct SpoolEnvelope: Sendable, Equatable {
    public struct Recipient: Sendable, Equatable {
        public var address: String
        /// RFC 3461 NOTIFY as sent (`SUCCESS,FAILURE`), or nil.
        public var notify: String?
        /// RFC 3461 ORCPT as sent (`rfc822;user@example.com`), or nil.
        public var originalRecipient: String?
        /// What a policy set for this recipient alone (Momentum's per-recipient messages:
        /// `validate_data_spool_each_rcpt`, `validate_set_binding`); nil means the message's.
        /// The reverse path (a VERP sender; `""` is the null sender).
        public var mailFrom: String?
        public var routingDomain: String?
        public var binding: String?
        public var bindingGroup: String?

        public init(address: String, notify: String? = nil, originalRecipient: String? = nil) {
            self.address = address
            self.notify = notify
            self.originalRecipient = originalRecipient
        }
    }

    /// The reverse path recipient `index` is delivered with (its own, else the message's).
    public func sender(of index: Int) -> String {
        recipients.indices.contains(index) ? recipients[index].mailFrom ?? mailFrom : mailFrom
    }

    /// The routing domain recipient `index` goes to, if a policy chose one.
    public func routingDomain(of index: Int) -> String? {
        recipients.indices.contains(index) ? recipients[index].routingDomain ?? routingDomain : routingDomain
    }

    /// The domain whose queue recipient `index` goes to: its routing domain, else the domain of
    /// its address (lower-cased).
    public func queueDomain(of index: Int) -> String {
        let domain: Substring
        if let routed = routingDomain(of: index) {
            domain = Substring(routed)
        } else {
            let address = recipients[index].address
            domain = address.lastIndex(of: "@").map { address[address.index(after: $0)...] } ?? ""
        }
        return domain.lowercased()
    }

    /// The binding and binding group a policy chose for recipient `index`, if any.
    public func binding(of index: Int) -> (binding: String?, group: String?) {
        guard recipients.indices.contains(index) else { return (binding, bindingGroup) }
        let recipient = recipients[index]
        if recipient.binding != nil || recipient.bindingGroup != nil {
            return (recipient.binding, recipient.bindingGroup)
        }
        return (binding, bindingGroup)
    }

    /// Stores a sender, routing domain or binding every recipient shares once, for the message,
    /// and per recipient only what differs from the message's (docs/spool-format.md).
    public mutating func shareCommonRecipientValues() {
        guard hasRecipientOverrides else { return }
        let indices = recipients.indices
        let senders = Set(indices.map { sender(of: $0) })
        if senders.count == 1, let only = senders.first { mailFrom = only }
        for index in indices where recipients[index].mailFrom == mailFrom { recipients[index].mailFrom = nil }
        let domains = indices.map { routingDomain(of: $0) }
        if Set(domains).count == 1 {
            routingDomain = domains[0]
            for index in indices { recipients[index].routingDomain = nil }
        }
        let bindings = indices.map { binding(of: $0) }
        if let first = bindings.first, bindings.allSatisfy({ $0 == first }) {
            (binding, bindingGroup) = first
            for index in indices {
                recipients[index].binding = nil
                recipients[index].bindingGroup = nil
            }
        }
    }

    /// Whether some recipient has a sender, routing domain or binding of its own.
    public var hasRecipientOverrides: Bool {
        recipients.contains {
            $0.mailFrom != nil || $0.routingDomain != nil || $0.binding != nil || $0.bindingGroup != nil
        }
    }

    public var id: String
    /// Reception time, microseconds since the Unix epoch.
    public var receivedAtMicros: Int64
    /// The reverse path without angle brackets; empty for the null sender `<>`.
    public var mailFrom: String
    public var recipients: [Recipient]
    /// RFC 1870 SIZE the client declared.
    public var declaredSize: Int?
    /// RFC 6152 BODY (`7BIT`, `8BITMIME`).
    public var body: String?
    public var smtpUTF8: Bool = false
    /// RFC 3461 RET (`FULL`, `HDRS`) and ENVID (xtext as sent).
    public var dsnReturn: String?
    public var dsnEnvelopeID: String?
    public var peerAddress: String
    public var peerPort: Int
    public var helo: String
    /// RFC 3848 protocol keyword (`ESMTPS`, `SMTP`, …).
    public var receivedProtocol: String
    /// TLS version and cipher when the session was encrypted.
    public var tls: String?
    /// The `Listen` address the message came in on.
    public var listener: String
    /// Connection context (`context = [ … ]` seeds and later policy keys).
    public var context: [String: String]
    /// The routing domain a policy chose (`core_config_get_message_routing_domain`); nil means
    /// each recipient's own domain.
    public var routingDomain: String?
    /// The binding a policy chose in validate_set_binding (`msg:binding`, `msg:binding_group`);
    /// nil means the default binding.
    public var binding: String?
    public var bindingGroup: String?
    /// `msg.priority` (1 = dequeued first).
    public var priority: Int = 0

    public init(
        id: String, receivedAtMicros: Int64, mailFrom: String, recipients: [Recipient],
        peerAddress: String, peerPort: Int, helo: String, receivedProtocol: String,
        listener: String, context: [String: String] = [:]
    ) {
        self.id = id
        self.receivedAtMicros = receivedAtMicros
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.peerAddress = peerAddress
        self.peerPort = peerPort
        self.helo = helo
        self.receivedProtocol = receivedProtocol
        self.listener = listener
        self.context = context
    }

    /// One line of JSON (no newline inside), keys in a fixed order. Written by hand: this is on
    /// the path of every accepted message.
    public func jsonLine() -> String {
        var out = "{\"version\":1,\"id\":"
        Self.appendJSON(id, to: &out)
        out += ",\"received_at_us\":\(receivedAtMicros),\"mail_from\":"
        Self.appendJSON(mailFrom, to: &out)
        out += ",\"recipients\":["
        for (index, recipient) in recipients.enumerated() {
            if index > 0 { out += "," }
            out += "{\"address\":"
            Self.appendJSON(recipient.address, to: &out)
            if let notify = recipient.notify {
                out += ",\"notify\":"
                Self.appendJSON(notify, to: &out)
            }
            if let orcpt = recipient.originalRecipient {
                out += ",\"orcpt\":"
                Self.appendJSON(orcpt, to: &out)
            }
            Self.appendField("mail_from", recipient.mailFrom, to: &out)
            Self.appendField("routing_domain", recipient.routingDomain, to: &out)
            Self.appendField("binding", recipient.binding, to: &out)
            Self.appendField("binding_group", recipient.bindingGroup, to: &out)
            out += "}"
        }
        out += "]"
        if let declaredSize { out += ",\"size\":\(declaredSize)" }
        if let body {
            out += ",\"body\":"
            Self.appendJSON(body, to: &out)
        }
        if smtpUTF8 { out += ",\"smtputf8\":true" }
        if let dsnReturn {
            out += ",\"ret\":"
            Self.appendJSON(dsnReturn, to: &out)
        }
        if let dsnEnvelopeID {
            out += ",\"envid\":"
            Self.appendJSON(dsnEnvelopeID, to: &out)
        }
        out += ",\"peer\":{\"address\":"
        Self.appendJSON(peerAddress, to: &out)
        out += ",\"port\":\(peerPort)},\"helo\":"
        Self.appendJSON(helo, to: &out)
        out += ",\"protocol\":"
        Self.appendJSON(receivedProtocol, to: &out)
        if let tls {
            out += ",\"tls\":"
            Self.appendJSON(tls, to: &out)
        }
        if let routingDomain {
            out += ",\"routing_domain\":"
            Self.appendJSON(routingDomain, to: &out)
        }
        if let binding {
            out += ",\"binding\":"
            Self.appendJSON(binding, to: &out)
        }
        if let bindingGroup {
            out += ",\"binding_group\":"
            Self.appendJSON(bindingGroup, to: &out)
        }
        if priority != 0 { out += ",\"priority\":\(priority)" }
        out += ",\"listener\":"
        Self.appendJSON(listener, to: &out)
        out += ",\"context\":{"
        for (index, key) in context.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            Self.appendJSON(key, to: &out)
            out += ":"
            Self.appendJSON(context[key] ?? "", to: &out)
        }
        out += "}}"
        return out
    }

    /// `,"key":"value"` when there is a value.
    static func appendField(_ key: String, _ value: String?, to out: inout String) {
        guard let value else { return }
        out += ",\"" + key + "\":"
        appendJSON(value, to: &out)
    }

    /// `string` as a JSON string (RFC 8259 §7), control characters escaped.
    package static func appendJSON(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Reads the JSON line back; nil when it is not a version-1 envelope.
    public init?(jsonLine data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["version"] as? Int == 1,
            let id = object["id"] as? String,
            let received = (object["received_at_us"] as? NSNumber)?.int64Value,
            let mailFrom = object["mail_from"] as? String,
            let recipients = object["recipients"] as? [[String: Any]],
            let peer = object["peer"] as? [String: Any],
            let peerAddress = peer["address"] as? String,
            let peerPort = peer["port"] as? Int,
            let helo = object["helo"] as? String,
            let receivedProtocol = object["protocol"] as? String,
            let listener = object["listener"] as? String
        else { return nil }
        var parsedRecipients: [Recipient] = []
        for recipient in recipients {
            guard let address = recipient["address"] as? String else { return nil }
            var parsed = Recipient(
                address: address, notify: recipient["notify"] as? String,
                originalRecipient: recipient["orcpt"] as? String)
            parsed.mailFrom = recipient["mail_from"] as? String
            parsed.routingDomain = recipient["routing_domain"] as? String
            parsed.binding = recipient["binding"] as? String
            parsed.bindingGroup = recipient["binding_group"] as? String
            parsedRecipients.append(parsed)
        }
        self.init(
            id: id, receivedAtMicros: received, mailFrom: mailFrom, recipients: parsedRecipients,
            peerAddress: peerAddress, peerPort: peerPort, helo: helo, receivedProtocol: receivedProtocol,
            listener: listener, context: object["context"] as? [String: String] ?? [:])
        declaredSize = object["size"] as? Int
        body = object["body"] as? String
        smtpUTF8 = object["smtputf8"] as? Bool ?? false
        dsnReturn = object["ret"] as? String
        dsnEnvelopeID = object["envid"] as? String
        tls = object["tls"] as? String
        routingDomain = object["routing_domain"] as? String
        binding = object["binding"] as? String
        bindingGroup = object["binding_group"] as? String
        priority = (object["priority"] as? Int) ?? 0
    }
}
