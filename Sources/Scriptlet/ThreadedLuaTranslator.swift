/// Translates Momentum "Threaded Lua" (docs/lua/dialect.md) into Lua that LuaJIT runs, keeping every
/// newline where it was so error messages point at the script's own lines:
///
/// - `!=` becomes `~=`, unary `!` becomes `not`;
/// - `&`, `|`, `^^` (at the precedence of `+`), `<<`, `>>`, `\` (at the precedence of `*`) and
///   unary `~` become calls to LuaJIT's `bit` library (integer division to a small helper);
/// - integer literals with a leading 0 are octal (`0660` becomes `432`);
/// - `\uXXXX` string escapes become LuaJIT's `\u{XXXX}`.
///
/// Plain Lua 5.1 comes out unchanged. The helpers are bound as locals on the first line, so they
/// work inside `module()` and `setfenv` code too.
public enum ThreadedLuaTranslator {
    public static func translate(_ source: String) throws(LuaTranslationError) -> String {
        var lexer = ThreadedLuaLexer(source)
        var tokens = try lexer.tokenize()
        if tokens[0].trivia.hasPrefix("#") {
            // A "#!" first line is skipped by lua(1) but not by the loader: keep it as a comment.
            tokens[0].trivia = "--" + tokens[0].trivia.dropFirst()
        }
        var parser = TranslatingParser(tokens: tokens)
        let body = try parser.chunk()
        guard parser.usedBitwise else { return body }
        return "local __thr_bit, __thr_idiv = bit, function(a, b) a = a - math.fmod(a, 1); b = b - math.fmod(b, 1); "
            + "local q = a / b; return q - math.fmod(q, 1) end; " + body
    }
}

/// A piece of output: the trivia before it, and the rest. Keeping them apart lets an operator
/// call be wrapped around an operand without moving its comments or newlines.
struct Fragment {
    var trivia: String
    var body: String
    var text: String { trivia + body }

    static func + (lhs: Fragment, rhs: Fragment) -> Fragment {
        Fragment(trivia: lhs.trivia, body: lhs.body + rhs.trivia + rhs.body)
    }
}

/// Recursive descent over the Lua 5.1 grammar (lparser.c's shape), emitting text as it goes.
struct TranslatingParser {
    let tokens: [LuaToken]
    var position = 0
    var usedBitwise = false
    /// Nesting of blocks and expressions now being parsed, at most
    /// `PolicyLimits.maxTranslatorNesting`.
    var depth = 0

    mutating func nest() throws(LuaTranslationError) {
        depth += 1
        if depth > PolicyLimits.maxTranslatorNesting {
            throw LuaTranslationError(line: current.line, message: "chunk has too many syntax levels")
        }
    }

    init(tokens: [LuaToken]) { self.tokens = tokens }

    var current: LuaToken { tokens[position] }

    func check(_ text: String) -> Bool { current.kind != .string && current.kind != .end && current.text == text }

    func peekText(_ offset: Int) -> String? {
        position + offset < tokens.count ? tokens[position + offset].text : nil
    }

    mutating func take() -> Fragment {
        let token = current
        if position < tokens.count - 1 { position += 1 }
        return Fragment(trivia: token.trivia, body: translate(token))
    }

    mutating func expect(_ text: String, _ context: String) throws(LuaTranslationError) -> Fragment {
        guard check(text) else {
            throw LuaTranslationError(
                line: current.line,
                message: "'\(text)' expected \(context) near '\(current.kind == .end ? "<eof>" : current.text)'")
        }
        return take()
    }

    mutating func expectName() throws(LuaTranslationError) -> Fragment {
        guard current.kind == .name else {
            throw LuaTranslationError(
                line: current.line, message: "<name> expected near '\(current.kind == .end ? "<eof>" : current.text)'")
        }
        return take()
    }

    /// Token-level rewrites.
    func translate(_ token: LuaToken) -> String {
        switch token.kind {
        case .symbol where token.text == "!=": return "~="
        case .symbol where token.text == "!": return "not "
        case .number:
            let text = token.text
            if text.count > 1, text.first == "0", text.allSatisfy({ ("0"..."7").contains($0) }),
                let value = Int(text, radix: 8)
            {
                return String(value)
            }
            return text
        case .string where token.text.contains("\\u"):
            return Self.rewriteUnicodeEscapes(token.text)
        default:
            return token.text
        }
    }

    /// `\uXXXX` / `\uXXXXXX` → `\u{XXXX}` (LuaJIT's form); `\\u` is left alone.
    static func rewriteUnicodeEscapes(_ text: String) -> String {
        var out = ""
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            out.append(character)
            guard character == "\\", let next = characters.first else { continue }
            if next == "u", characters.dropFirst().first != "{" {
                let digits = characters.dropFirst().prefix(while: \.isHexDigit)
                if digits.count == 4 || digits.count == 6 {
                    out += "u{" + String(digits) + "}"
                    characters = characters.dropFirst(1 + digits.count)
                    continue
                }
            }
            out.append(next) // an escaped character is never the start of another escape
            characters = characters.dropFirst()
        }
        return out
    }

    // MARK: - Statements

    mutating func chunk() throws(LuaTranslationError) -> String {
        var out = try block()
        guard current.kind == .end else {
            throw LuaTranslationError(line: current.line, message: "'<eof>' expected near '\(current.text)'")
        }
        out += current.trivia
        return out
    }

    func blockEnds() -> Bool {
        current.kind == .end || (current.kind == .keyword && ["end", "else", "elseif", "until"].contains(current.text))
    }

    mutating func block() throws(LuaTranslationError) -> String {
        try nest()
        defer { depth -= 1 }
        var out = ""
        while !blockEnds() {
            if check("return") {
                out += take().text
                if !blockEnds() && !check(";") { out += try expressionList().text }
                if check(";") { out += take().text }
                break
            }
            out += try statement().text
        }
        return out
    }

    mutating func statement() throws(LuaTranslationError) -> Fragment {
        let line = current.line
        let word = current.kind == .keyword || current.kind == .symbol ? current.text : ""
        switch word {
        case ";": return take()
        case "if":
            var out = take() + (try expression()) + (try expect("then", "after 'if' condition"))
            out.body += try block()
            while check("elseif") {
                out = out + take() + (try expression()) + (try expect("then", "after 'elseif' condition"))
                out.body += try block()
            }
            if check("else") {
                out = out + take()
                out.body += try block()
            }
            return out + (try expect("end", "(to close 'if' at line \(line))"))
        case "while":
            var out = take() + (try expression()) + (try expect("do", "after 'while' condition"))
            out.body += try block()
            return out + (try expect("end", "(to close 'while' at line \(line))"))
        case "do":
            var out = take()
            out.body += try block()
            return out + (try expect("end", "(to close 'do' at line \(line))"))
        case "for":
            var out = take() + (try expectName())
            if check("=") {
                out = out + take() + (try expression()) + (try expect(",", "in numeric for")) + (try expression())
                if check(",") { out = out + take() + (try expression()) }
            } else {
                while check(",") { out = out + take() + (try expectName()) }
                out = out + (try expect("in", "in generic for")) + (try expressionList())
            }
            out = out + (try expect("do", "in 'for'"))
            out.body += try block()
            return out + (try expect("end", "(to close 'for' at line \(line))"))
        case "repeat":
            var out = take()
            out.body += try block()
            return out + (try expect("until", "(to close 'repeat' at line \(line))")) + (try expression())
        case "function":
            var out = take() + (try expectName())
            while check(".") { out = out + take() + (try expectName()) }
            if check(":") { out = out + take() + (try expectName()) }
            return out + (try functionBody(line: line))
        case "local":
            var out = take()
            if check("function") {
                return out + take() + (try expectName()) + (try functionBody(line: line))
            }
            out = out + (try expectName())
            while check(",") { out = out + take() + (try expectName()) }
            if check("=") { out = out + take() + (try expressionList()) }
            return out
        case "break":
            return take()
        default:
            break
        }
        // exprstat: func | assignment
        var out = try suffixedExpression()
        if check(",") || check("=") {
            while check(",") { out = out + take() + (try suffixedExpression()) }
            out = out + (try expect("=", "in assignment")) + (try expressionList())
        }
        return out
    }

    mutating func functionBody(line: Int) throws(LuaTranslationError) -> Fragment {
        var out = try expect("(", "to start parameters")
        if !check(")") {
            while true {
                if check("...") {
                    out = out + take()
                    break
                }
                out = out + (try expectName())
                guard check(",") else { break }
                out = out + take()
            }
        }
        out = out + (try expect(")", "to close parameters"))
        out.body += try block()
        return out + (try expect("end", "(to close 'function' at line \(line))"))
    }

    // MARK: - Expressions

    mutating func expressionList() throws(LuaTranslationError) -> Fragment {
        var out = try expression()
        while check(",") { out = out + take() + (try expression()) }
        return out
    }

    mutating func expression() throws(LuaTranslationError) -> Fragment { try subexpression(limit: 0) }

    /// Left and right priorities (lparser.c), with Threaded Lua's bitwise operators added.
    static let priorities: [String: (left: Int, right: Int)] = [
        "+": (6, 6), "-": (6, 6), "&": (6, 6), "|": (6, 6), "^^": (6, 6),
        "*": (7, 7), "/": (7, 7), "%": (7, 7), "<<": (7, 7), ">>": (7, 7), "\\": (7, 7),
        "^": (10, 9), "..": (5, 4),
        "==": (3, 3), "~=": (3, 3), "!=": (3, 3), "<": (3, 3), "<=": (3, 3), ">": (3, 3), ">=": (3, 3),
        "and": (2, 2), "or": (1, 1)
    ]
    static let unaryPriority = 8
    static let bitwiseCalls: [String: String] = [
        "&": "__thr_bit.band", "|": "__thr_bit.bor", "^^": "__thr_bit.bxor", "<<": "__thr_bit.lshift",
        ">>": "__thr_bit.arshift", "\\": "__thr_idiv"
    ]

    mutating func subexpression(limit: Int) throws(LuaTranslationError) -> Fragment {
        try nest()
        defer { depth -= 1 }
        var left: Fragment
        if current.kind != .string, ["not", "-", "#", "!", "~"].contains(current.text) {
            let isBitwiseNot = current.text == "~"
            let op = take()
            let operand = try subexpression(limit: Self.unaryPriority)
            if isBitwiseNot {
                usedBitwise = true
                left = Fragment(trivia: op.trivia, body: "__thr_bit.bnot(" + operand.text + ")")
            } else {
                left = op + operand
            }
        } else {
            left = try simpleExpression()
        }
        while current.kind == .symbol || current.kind == .keyword, let priority = Self.priorities[current.text],
            priority.left > limit
        {
            let operatorText = current.text
            let op = take()
            let right = try subexpression(limit: priority.right)
            if let call = Self.bitwiseCalls[operatorText] {
                usedBitwise = true
                left = Fragment(
                    trivia: left.trivia, body: call + "(" + left.body + "," + op.trivia + " " + right.text + ")")
            } else {
                left = left + op + right
            }
        }
        return left
    }

    mutating func simpleExpression() throws(LuaTranslationError) -> Fragment {
        switch current.kind {
        case .number, .string: return take()
        case .keyword where ["nil", "true", "false"].contains(current.text): return take()
        case .symbol where current.text == "...": return take()
        case .symbol where current.text == "{": return try tableConstructor()
        case .keyword where current.text == "function":
            let line = current.line
            return take() + (try functionBody(line: line))
        default: return try suffixedExpression()
        }
    }

    mutating func primaryExpression() throws(LuaTranslationError) -> Fragment {
        if current.kind == .name { return take() }
        if check("(") {
            let line = current.line
            return take() + (try expression()) + (try expect(")", "(to close '(' at line \(line))"))
        }
        throw LuaTranslationError(
            line: current.line, message: "unexpected symbol near '\(current.kind == .end ? "<eof>" : current.text)'")
    }

    mutating func suffixedExpression() throws(LuaTranslationError) -> Fragment {
        var out = try primaryExpression()
        while true {
            if check(".") {
                out = out + take() + (try expectName())
            } else if check("[") {
                out = out + take() + (try expression()) + (try expect("]", "to close index"))
            } else if check(":") {
                out = out + take() + (try expectName()) + (try callArguments())
            } else if check("(") || check("{") || current.kind == .string {
                out = out + (try callArguments())
            } else {
                return out
            }
        }
    }

    mutating func callArguments() throws(LuaTranslationError) -> Fragment {
        if current.kind == .string { return take() }
        if check("{") { return try tableConstructor() }
        let line = current.line
        var out = try expect("(", "for function arguments")
        if !check(")") { out = out + (try expressionList()) }
        return out + (try expect(")", "(to close '(' at line \(line))"))
    }

    mutating func tableConstructor() throws(LuaTranslationError) -> Fragment {
        let line = current.line
        var out = try expect("{", "to open table")
        while !check("}") {
            if check("[") {
                out =
                    out + take() + (try expression()) + (try expect("]", "to close key"))
                    + (try expect("=", "in table field")) + (try expression())
            } else if current.kind == .name, peekText(1) == "=" {
                out = out + take() + take() + (try expression())
            } else {
                out = out + (try expression())
            }
            guard check(",") || check(";") else { break }
            out = out + take()
        }
        return out + (try expect("}", "(to close '{' at line \(line))"))
    }
}
