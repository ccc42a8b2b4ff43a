import Foundation

/// Substitution in transmission content (docs/http-api.md, templates): `{{name}}` and
/// `{{a.b}}` are replaced by the recipient's `substitution_data`, else the transmission's; a
/// missing name renders as nothing. In HTML, `{{…}}` is escaped and `{{{…}}}` is not. Numbers and
/// booleans render as JSON writes them; objects and arrays as JSON text.
package struct TemplateRenderer {
    package enum Mode {
        case text
        case html
        /// A header field's value: line breaks in substitutions become spaces (no header injection).
        case header
    }

    /// Substitution data, the recipient's first.
    package var scopes: [JSONValue]
    /// Substitutions left before rendering refuses (InjectionLimits.maxSubstitutions).
    package private(set) var budget = InjectionLimits.maxSubstitutions

    package struct TooLarge: Error {}

    package init(recipient: JSONValue?, transmission: JSONValue?) {
        scopes = [recipient, transmission].compactMap { $0 }
    }

    /// `template` with its substitutions made; throws when rendering passes the limits.
    package mutating func render(_ template: String, _ mode: Mode) throws(TooLarge) -> String {
        guard template.contains("{{") else { return template }
        let bytes = Array(template.utf8)
        let brace = UInt8(ascii: "{")
        let closing = UInt8(ascii: "}")
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == brace, index + 1 < bytes.count, bytes[index + 1] == brace else {
                output.append(bytes[index])
                index += 1
                continue
            }
            let raw = index + 2 < bytes.count && bytes[index + 2] == brace
            let nameStart = index + (raw ? 3 : 2)
            let closeLength = raw ? 3 : 2
            var close = nameStart
            while close + closeLength <= bytes.count,
                !(0..<closeLength).allSatisfy({ bytes[close + $0] == closing })
            {
                close += 1
            }
            guard close + closeLength <= bytes.count else {
                output += bytes[index...]
                break
            }
            budget -= 1
            guard budget >= 0 else { throw TooLarge() }
            let name = String(decoding: bytes[nameStart..<close], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            var value = lookup(name).map(Self.text) ?? ""
            switch mode {
            case .text: break
            case .html: if !raw { value = Self.escapeHTML(value) }
            case .header:
                value = value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
            }
            output += value.utf8
            guard output.count <= InjectionLimits.maxMessageSize else { throw TooLarge() }
            index = close + closeLength
        }
        return String(decoding: output, as: UTF8.self)
    }

    private func lookup(_ name: String) -> JSONValue? {
        let path = name.split(separator: ".").map(String.init)
        guard !path.isEmpty else { return nil }
        for scope in scopes {
            var value: JSONValue? = scope
            for key in path { value = value?[key] }
            if let value, value != .null { return value }
        }
        return nil
    }

    private static func text(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return value.serialized
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
