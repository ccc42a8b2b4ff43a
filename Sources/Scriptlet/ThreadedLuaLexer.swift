/// A token of Lua 5.1 as extended by Momentum's "Threaded Lua" (docs/lua/dialect.md), with the text
/// before it (white space and comments) kept so a translation can reproduce the source exactly,
/// line for line.
struct LuaToken: Equatable {
    enum Kind: Equatable {
        case name, keyword, number, string, symbol, end
    }

    var kind: Kind
    var text: String
    /// White space and comments before the token, as written.
    var trivia: String
    var line: Int
}

/// An error in a script's text, with its line.
public struct LuaTranslationError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "\(line): \(message)" }
}

/// Splits Threaded Lua source into tokens (Lua 5.1 lexical rules plus `!=`, `!`, `&`, `|`, `^^`,
/// `<<`, `>>`, `~`, `\`).
struct ThreadedLuaLexer {
    static let keywords: Set<String> = [
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
        "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"
    ]
    /// Longest first, so that `...` wins over `..` and `^^` over `^`.
    static let symbols = [
        "...", "..", "==", "~=", "!=", "<=", ">=", "<<", ">>", "^^",
        "+", "-", "*", "/", "%", "^", "#", "<", ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
        "&", "|", "~", "!", "\\"
    ]

    let bytes: [UInt8]
    var index = 0
    var line = 1

    init(_ source: String) { bytes = Array(source.utf8) }

    mutating func tokenize() throws(LuaTranslationError) -> [LuaToken] {
        var tokens: [LuaToken] = []
        while true {
            let trivia = try skipTrivia()
            let startLine = line
            guard index < bytes.count else {
                tokens.append(LuaToken(kind: .end, text: "", trivia: trivia, line: startLine))
                return tokens
            }
            let start = index
            let kind = try scanToken()
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            tokens.append(
                LuaToken(
                    kind: kind == .name && Self.keywords.contains(text) ? .keyword : kind, text: text,
                    trivia: trivia, line: startLine))
        }
    }

    func peek(_ offset: Int = 0) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }

    mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }
    }

    /// `[[`, `[=[`, …: the level of a long bracket starting here, or nil.
    func longBracketLevel() -> Int? {
        guard peek() == UInt8(ascii: "[") else { return nil }
        var level = 0
        while peek(1 + level) == UInt8(ascii: "=") { level += 1 }
        return peek(1 + level) == UInt8(ascii: "[") ? level : nil
    }

    mutating func skipLongBracket(level: Int) throws(LuaTranslationError) {
        let startLine = line
        advance(level + 2)
        while index < bytes.count {
            if peek() == UInt8(ascii: "]") {
                var equals = 0
                while peek(1 + equals) == UInt8(ascii: "=") { equals += 1 }
                if equals == level && peek(1 + equals) == UInt8(ascii: "]") {
                    advance(level + 2)
                    return
                }
            }
            advance()
        }
        throw LuaTranslationError(line: startLine, message: "unfinished long string or comment")
    }

    mutating func skipTrivia() throws(LuaTranslationError) -> String {
        let start = index
        while index < bytes.count {
            let byte = peek()
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\n")
            {
                advance()
            } else if byte == UInt8(ascii: "-") && peek(1) == UInt8(ascii: "-") {
                advance(2)
                if let level = longBracketLevel() {
                    try skipLongBracket(level: level)
                } else {
                    while index < bytes.count && peek() != UInt8(ascii: "\n") { advance() }
                }
            } else if index == 0 && byte == UInt8(ascii: "#") {
                while index < bytes.count && peek() != UInt8(ascii: "\n") { advance() } // #! line
            } else {
                break
            }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || byte == UInt8(ascii: "_")
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    mutating func scanToken() throws(LuaTranslationError) -> LuaToken.Kind {
        let byte = peek()
        if Self.isNameStart(byte) {
            while Self.isNameStart(peek()) || Self.isDigit(peek()) { advance() }
            return .name
        }
        if Self.isDigit(byte) || (byte == UInt8(ascii: ".") && Self.isDigit(peek(1))) {
            // Lua's rule: digits, letters, dots, and a sign right after an exponent mark.
            while true {
                let next = peek()
                if Self.isDigit(next) || Self.isNameStart(next) || next == UInt8(ascii: ".") {
                    let isExponent = (next == UInt8(ascii: "e") || next == UInt8(ascii: "E"))
                    advance()
                    if isExponent && (peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-")) { advance() }
                } else {
                    break
                }
            }
            return .number
        }
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            let startLine = line
            advance()
            while true {
                guard index < bytes.count, peek() != UInt8(ascii: "\n") else {
                    throw LuaTranslationError(line: startLine, message: "unfinished string")
                }
                if peek() == UInt8(ascii: "\\") {
                    advance(2)
                    continue
                }
                if peek() == byte {
                    advance()
                    break
                }
                advance()
            }
            return .string
        }
        if let level = longBracketLevel() {
            try skipLongBracket(level: level)
            return .string
        }
        for symbol in Self.symbols where bytes[index...].starts(with: symbol.utf8) {
            advance(symbol.utf8.count)
            return .symbol
        }
        throw LuaTranslationError(
            line: line, message: "unexpected character '\(String(decoding: [byte], as: UTF8.self))'")
    }
}
