import Foundation

/// Builds the RFC 5322 message (RFC 2045–2047 for MIME) one recipient of a transmission gets:
/// the template rendered with the recipient's substitution data, CRLF line endings, and the
/// fields a submission server adds when the client left them out (Date, Message-ID; RFC 6409 §8).
package struct MessageComposer {
    package var hostname: String
    /// The Date: field's value (RFC 5322 §3.3) for the messages it builds.
    package var date: String

    package init(hostname: String, date: String) {
        self.hostname = hostname
        self.date = date
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// The message for `recipient`, as octets with CRLF line endings.
    package func compose(
        _ transmission: Transmission, for recipient: Transmission.Recipient, messageID: String
    ) throws(Failure) -> [UInt8] {
        var renderer = TemplateRenderer(
            recipient: recipient.substitutionData, transmission: transmission.substitutionData)
        do {
            switch transmission.content {
            case .rfc822(let template):
                let rendered = Self.crlf(try renderer.render(template, .text))
                return try completed(rendered, messageID: messageID)
            case .parts(let parts):
                return try build(parts, recipient: recipient, renderer: &renderer, messageID: messageID)
            }
        } catch is TemplateRenderer.TooLarge {
            throw Failure(description: "the rendered message is larger than \(InjectionLimits.maxMessageSize) octets")
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(error)")
        }
    }

    /// A whole message given by the client: Date and Message-ID added when its header lacks them.
    private func completed(_ message: String, messageID: String) throws(Failure) -> [UInt8] {
        let bytes = Array(message.utf8)
        guard bytes.count <= InjectionLimits.maxMessageSize else {
            throw Failure(description: "the message is larger than \(InjectionLimits.maxMessageSize) octets")
        }
        let headerEnd = Self.find([13, 10, 13, 10], in: bytes).map { $0 + 2 } ?? bytes.count
        let header = String(decoding: bytes[..<headerEnd], as: UTF8.self).lowercased()
        guard header.contains(":") else {
            throw Failure(description: "content.email_rfc822 has no header section (RFC 5322 §2.1)")
        }
        var added = ""
        if !Self.hasField("date", in: header) { added += "Date: \(date)\r\n" }
        if !Self.hasField("message-id", in: header) { added += "Message-ID: <\(messageID)@\(hostname)>\r\n" }
        return Array(added.utf8) + bytes
    }

    private static func hasField(_ name: String, in header: String) -> Bool {
        header.hasPrefix(name + ":") || header.contains("\r\n" + name + ":")
    }

    private func build(
        _ parts: Transmission.Parts, recipient: Transmission.Recipient, renderer: inout TemplateRenderer,
        messageID: String
    ) throws -> [UInt8] {
        var fields: [String] = []
        let fromName = try parts.fromName.map { try renderer.render($0, .header) }
        fields.append("From: " + Self.mailbox(parts.fromAddress, name: fromName))
        if let headerTo = recipient.headerTo {
            fields.append("To: " + Self.encodeWords(try renderer.render(headerTo, .header)))
        } else {
            fields.append("To: " + Self.mailbox(recipient.address, name: recipient.name))
        }
        fields.append("Subject: " + Self.encodeWords(try renderer.render(parts.subject, .header)))
        if let replyTo = parts.replyTo {
            fields.append("Reply-To: " + Self.encodeWords(try renderer.render(replyTo, .header)))
        }
        fields.append("Date: " + date)
        fields.append("Message-ID: <\(messageID)@\(hostname)>")
        for (name, value) in parts.headers {
            fields.append(name + ": " + Self.encodeWords(try renderer.render(value, .header)))
        }
        fields.append("MIME-Version: 1.0")
        let text = try parts.text.map { Self.crlf(try renderer.render($0, .text)) }
        let html = try parts.html.map { Self.crlf(try renderer.render($0, .html)) }
        var body = ""
        switch (text, html) {
        case (let text?, let html?):
            let boundary = "=_impulse_\(messageID)"
            fields.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
            body = "This is a multi-part message in MIME format.\r\n"
            for (type, content) in [("text/plain", text), ("text/html", html)] {
                let (encoding, encoded) = Self.encodeBody(content)
                body += "\r\n--\(boundary)\r\nContent-Type: \(type); charset=utf-8\r\n"
                body += "Content-Transfer-Encoding: \(encoding)\r\n\r\n\(encoded)"
            }
            body += "\r\n--\(boundary)--\r\n"
        default:
            let type = text != nil ? "text/plain" : "text/html"
            let (encoding, encoded) = Self.encodeBody(text ?? html ?? "")
            fields.append("Content-Type: \(type); charset=utf-8")
            fields.append("Content-Transfer-Encoding: \(encoding)")
            body = encoded
        }
        // Whatever a template rendered, a field stays one field (its encoded words fold with CRLF SP).
        fields = fields.map(Self.oneField)
        let message = fields.joined(separator: "\r\n") + "\r\n\r\n" + body
        guard message.utf8.count <= InjectionLimits.maxMessageSize else { throw TemplateRenderer.TooLarge() }
        return Array(message.utf8)
    }

    /// `field` with any CR or LF that is not part of a fold (CRLF followed by a space) made a space.
    static func oneField(_ field: String) -> String {
        guard field.contains("\r") || field.contains("\n") else { return field }
        let folded = field.replacingOccurrences(of: "\r\n ", with: "\u{0}")
        return folded.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\u{0}", with: "\r\n ")
    }

    /// `"Name" <address>`, the name as an encoded word when it is not plain ASCII (RFC 2047 §5).
    static func mailbox(_ address: String, name: String?) -> String {
        guard let name, !name.isEmpty else { return "<\(address)>" }
        if name.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) {
            let quoted = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(quoted)\" <\(address)>"
        }
        return encodeWords(name) + " <\(address)>"
    }

    /// A header value as it is when ASCII, else as RFC 2047 B-encoded words of at most 75
    /// characters each, split between characters.
    static func encodeWords(_ value: String) -> String {
        guard !value.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) else { return value }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in value {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    /// 7bit when the body is ASCII with lines of at most 998 octets (RFC 5322 §2.1.1), else base64.
    static func encodeBody(_ body: String) -> (String, String) {
        let ascii = body.utf8.allSatisfy { $0 < 128 }
        let shortLines = body.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 }
        if ascii && shortLines { return ("7bit", body.hasSuffix("\r\n") ? body : body + "\r\n") }
        let encoded = Data(body.utf8).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed
        ])
        return ("base64", encoded + "\r\n")
    }

    /// Every line ending as CRLF (JSON clients send "\n").
    static func crlf(_ text: String) -> String {
        guard text.contains("\n") || text.contains("\r") else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .replacingOccurrences(of: "\n", with: "\r\n")
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<index + needle.count]) == needle { return index }
        }
        return nil
    }
}
