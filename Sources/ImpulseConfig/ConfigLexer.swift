/// A token of the ecelerity.conf language.
public struct ConfigToken: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case openBrace, closeBrace, openParen, closeParen, openBracket, closeBracket, equals
        /// A bare word or a quoted string.
        case word(String, quoted: Bool)
        case end
    }

    public var kind: Kind
    public var location: SourceLocation

    var describe: String {
        switch kind {
        case .openBrace: return "'{'"
        case .closeBrace: return "'}'"
        case .openParen: return "'('"
        case .closeParen: return "')'"
        case .openBracket: return "'['"
        case .closeBracket: return "']'"
        case .equals: return "'='"
        case .word(let text, let quoted): return quoted ? "string \"\(text)\"" : "'\(text)'"
        case .end: return "end of file"
        }
    }
}

/// Splits ecelerity.conf text into tokens: `#` and `/* */` comments (not nesting), free layout,
/// double- or single-quoted strings (with `\"`, `\\`, `\n`, `\t` escapes), and bare words,
/// which may contain `/` and `:` as the manual's own examples do.
public struct ConfigLexer {
    let file: String
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var column = 1

    public init(file: String, text: String) {
        self.file = file
        self.bytes = Array(text.utf8)
    }

    public mutating func tokenize() throws(ConfigError) -> [ConfigToken] {
        var tokens: [ConfigToken] = []
        while true {
            let token = try next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    mutating func advance() {
        if bytes[index] == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if bytes[index] & 0xC0 != 0x80 {
            column += 1
        }
        index += 1
    }

    static func isSpecial(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "="), UInt8(ascii: "\""),
            UInt8(ascii: "'"), UInt8(ascii: "#"):
            return true
        default: return false
        }
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r")
    }

    mutating func next() throws(ConfigError) -> ConfigToken {
        // Skip white space and comments.
        while index < bytes.count {
            let byte = bytes[index]
            if Self.isSpace(byte) {
                advance()
            } else if byte == UInt8(ascii: "#") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { advance() }
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                let start = location
                advance()
                advance()
                var closed = false
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "*"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/")
                    {
                        advance()
                        advance()
                        closed = true
                        break
                    }
                    advance()
                }
                guard closed else { throw ConfigError(start, "unterminated comment: expected '*/' before end of file") }
            } else {
                break
            }
        }
        let start = location
        guard index < bytes.count else { return ConfigToken(kind: .end, location: start) }
        let byte = bytes[index]
        let single: ConfigToken.Kind?
        switch byte {
        case UInt8(ascii: "{"): single = .openBrace
        case UInt8(ascii: "}"): single = .closeBrace
        case UInt8(ascii: "("): single = .openParen
        case UInt8(ascii: ")"): single = .closeParen
        case UInt8(ascii: "["): single = .openBracket
        case UInt8(ascii: "]"): single = .closeBracket
        case UInt8(ascii: "="): single = .equals
        default: single = nil
        }
        if let single {
            advance()
            return ConfigToken(kind: single, location: start)
        }
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            let quote = byte
            advance()
            var value: [UInt8] = []
            while true {
                guard index < bytes.count else {
                    throw ConfigError(
                        start,
                        """
                        unterminated string: expected closing \(quote == UInt8(ascii: "\"") ? "'\"'" : "\"'\"") \
                        before end of file
                        """
                    )
                }
                let character = bytes[index]
                if character == quote {
                    advance()
                    break
                }
                if character == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    advance()
                    switch bytes[index] {
                    case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                    case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                    case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(bytes[index])
                    default:
                        value.append(UInt8(ascii: "\\"))
                        value.append(bytes[index])
                    }
                    advance()
                    continue
                }
                value.append(character)
                advance()
            }
            return ConfigToken(kind: .word(String(decoding: value, as: UTF8.self), quoted: true), location: start)
        }
        var value: [UInt8] = []
        while index < bytes.count, !Self.isSpace(bytes[index]), !Self.isSpecial(bytes[index]) {
            if bytes[index] == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*"),
                !value.isEmpty
            {
                break
            }
            value.append(bytes[index])
            advance()
        }
        return ConfigToken(kind: .word(String(decoding: value, as: UTF8.self), quoted: false), location: start)
    }
}
