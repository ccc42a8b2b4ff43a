/// What `POST /api/v1/transmissions` asks for (docs/http-api.md): Momentum's REST transmission
/// shape — recipients, content (a whole RFC 5322 message or a template of parts), substitution
/// data and metadata. Reading it checks every field; an error names where it is.
package struct Transmission: Sendable {
    package struct Recipient: Sendable {
        package var address: String
        package var name: String?
        /// `address.header_to`: what To: shows when it is not this recipient (e.g. a CC copy).
        package var headerTo: String?
        package var substitutionData: JSONValue?
        package var metadata: JSONValue?
    }

    package enum Content: Sendable {
        /// `content.email_rfc822`: the whole message, rendered with the substitution data.
        case rfc822(String)
        /// `content.from/subject/text/html/headers/reply_to`: Impulse builds the message.
        case parts(Parts)
    }

    package struct Parts: Sendable {
        package var fromAddress: String
        package var fromName: String?
        package var subject: String
        package var text: String?
        package var html: String?
        package var replyTo: String?
        package var headers: [(String, String)] = []
    }

    package var recipients: [Recipient]
    package var content: Content
    /// The envelope sender (MAIL FROM): `return_path`, else the From address of the parts.
    package var returnPath: String
    package var substitutionData: JSONValue?
    package var metadata: JSONValue?
    package var campaignID: String?

    /// A field that is missing or wrong, with its place in the request (`recipients[2].address`).
    package struct FieldError: Error, Equatable, CustomStringConvertible {
        package var location: String
        package var reason: String
        package var description: String { "\(location): \(reason)" }
    }

    package init(_ json: JSONValue) throws(FieldError) {
        guard case .object = json else { throw FieldError(location: "(request)", reason: "expected a JSON object") }
        let recipientsValue = try Self.require(json, "recipients", at: "")
        guard case .array(let list) = recipientsValue else {
            throw FieldError(location: "recipients", reason: "expected an array of recipients")
        }
        guard !list.isEmpty else { throw FieldError(location: "recipients", reason: "no recipients") }
        guard list.count <= InjectionLimits.maxRecipients else {
            throw FieldError(
                location: "recipients", reason: "\(list.count) recipients; at most \(InjectionLimits.maxRecipients)")
        }
        recipients = try list.enumerated().map { index, item throws(FieldError) in
            try Self.recipient(item, at: "recipients[\(index)]")
        }
        substitutionData = try Self.object(json, "substitution_data", at: "")
        metadata = try Self.object(json, "metadata", at: "")
        campaignID = try Self.line(json, "campaign_id", at: "")
        let contentValue = try Self.require(json, "content", at: "")
        guard case .object = contentValue else { throw FieldError(location: "content", reason: "expected an object") }
        var sender = try Self.line(json, "return_path", at: "")
        if let rfc822 = try Self.string(contentValue, "email_rfc822", at: "content") {
            for other in ["from", "subject", "text", "html", "headers", "reply_to"] where contentValue[other] != nil {
                throw FieldError(location: "content.\(other)", reason: "not allowed with content.email_rfc822")
            }
            guard sender != nil else {
                throw FieldError(location: "return_path", reason: "required with content.email_rfc822")
            }
            content = .rfc822(rfc822)
        } else {
            let parts = try Self.parts(contentValue)
            sender = sender ?? parts.fromAddress
            content = .parts(parts)
        }
        returnPath = sender ?? ""
        guard returnPath.utf8.count <= InjectionLimits.maxAddress else {
            throw FieldError(location: "return_path", reason: "longer than \(InjectionLimits.maxAddress) octets")
        }
    }

    private static func parts(_ content: JSONValue) throws(FieldError) -> Parts {
        let from = try require(content, "from", at: "content")
        var address: String
        var name: String?
        switch from {
        case .string(let text): address = try checkedLine(text, at: "content.from")
        case .object:
            address = try line(from, "email", at: "content.from") ?? ""
            name = try line(from, "name", at: "content.from")
        default: throw FieldError(location: "content.from", reason: "expected an address or {\"email\", \"name\"}")
        }
        guard address.contains("@"), address.utf8.count <= InjectionLimits.maxAddress else {
            throw FieldError(location: "content.from", reason: "'\(address)' is not an email address")
        }
        guard let subject = try line(content, "subject", at: "content") else {
            throw FieldError(location: "content.subject", reason: "required")
        }
        var parts = Parts(fromAddress: address, fromName: name, subject: subject)
        parts.text = try string(content, "text", at: "content")
        parts.html = try string(content, "html", at: "content")
        guard parts.text != nil || parts.html != nil else {
            throw FieldError(location: "content", reason: "needs text, html or email_rfc822")
        }
        parts.replyTo = try line(content, "reply_to", at: "content")
        if let headers = content["headers"] {
            guard case .object(let members) = headers else {
                throw FieldError(location: "content.headers", reason: "expected an object of header fields")
            }
            guard members.count <= InjectionLimits.maxHeaders else {
                throw FieldError(location: "content.headers", reason: "more than \(InjectionLimits.maxHeaders) fields")
            }
            for (field, value) in members {
                let here = "content.headers.\(field)"
                guard !field.isEmpty, field.utf8.count <= InjectionLimits.maxFieldName,
                    field.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") })
                else { throw FieldError(location: here, reason: "not a header field name (RFC 5322 §3.6.8)") }
                guard case .string(let text) = value else {
                    throw FieldError(location: here, reason: "expected a string")
                }
                guard !text.contains("\r"), !text.contains("\n") else {
                    throw FieldError(location: here, reason: "a header value may not contain a line break")
                }
                let reserved = [
                    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                    "content-transfer-encoding", "reply-to"
                ]
                guard !reserved.contains(field.lowercased()) else {
                    throw FieldError(location: here, reason: "set by Impulse or by another content field")
                }
                parts.headers.append((field, text))
            }
        }
        return parts
    }

    private static func recipient(_ item: JSONValue, at location: String) throws(FieldError) -> Recipient {
        var recipient = Recipient(address: "")
        switch item {
        case .string(let text): recipient.address = try checkedLine(text, at: location)
        case .object:
            let address = try require(item, "address", at: location)
            switch address {
            case .string(let text): recipient.address = try checkedLine(text, at: location + ".address")
            case .object:
                recipient.address = try line(address, "email", at: location + ".address") ?? ""
                recipient.name = try line(address, "name", at: location + ".address")
                recipient.headerTo = try line(address, "header_to", at: location + ".address")
            default:
                throw FieldError(location: location + ".address", reason: "expected an address or {\"email\", …}")
            }
            recipient.substitutionData = try object(item, "substitution_data", at: location)
            recipient.metadata = try object(item, "metadata", at: location)
        default:
            throw FieldError(location: location, reason: "expected an address or {\"address\": …}")
        }
        guard recipient.address.contains("@"), recipient.address.utf8.count <= InjectionLimits.maxAddress else {
            throw FieldError(location: location, reason: "'\(recipient.address)' is not an email address")
        }
        return recipient
    }

    private static func path(_ base: String, _ key: String) -> String { base.isEmpty ? key : base + "." + key }

    private static func require(_ json: JSONValue, _ key: String, at base: String) throws(FieldError) -> JSONValue {
        guard let value = json[key], value != .null else {
            throw FieldError(location: path(base, key), reason: "required")
        }
        return value
    }

    private static func string(_ json: JSONValue, _ key: String, at base: String) throws(FieldError) -> String? {
        switch json[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw FieldError(location: path(base, key), reason: "expected a string")
        }
    }

    private static func checkedLine(_ text: String, at location: String) throws(FieldError) -> String {
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw FieldError(location: location, reason: "control characters (line breaks) are not allowed here")
        }
        return text
    }

    /// A string that goes into a header field or the envelope: no line breaks or other control
    /// characters (they would end the field and start another: header injection).
    private static func line(_ json: JSONValue, _ key: String, at base: String) throws(FieldError) -> String? {
        guard let text = try string(json, key, at: base) else { return nil }
        return try checkedLine(text, at: path(base, key))
    }

    private static func object(_ json: JSONValue, _ key: String, at base: String) throws(FieldError) -> JSONValue? {
        switch json[key] {
        case nil, .null?: return nil
        case let value? where { if case .object = value { true } else { false } }(): return value
        default: throw FieldError(location: path(base, key), reason: "expected an object")
        }
    }
}
