/// A statement with msys.db's placeholders (`?` for the next value of a parameter array,
/// `:name` or `$name` for a named one) found outside quoted text and comments, ready to be
/// written in a driver's own form with its values in order.
public struct SQLStatement: Sendable, Equatable {
    /// A value given for a placeholder: text, or SQL NULL (nil).
    public typealias Value = String?

    /// The parameters a script passes: positional (`{ a, b }`) or named (`{ name = a }`).
    public enum Parameters: Sendable, Equatable {
        case positional([Value])
        case named([String: Value])

        public static let none = Parameters.positional([])
    }

    enum Piece: Equatable {
        case text(Substring)
        case positional
        case named(String)
    }

    private let pieces: [Piece]
    public let text: String

    /// Splits `text` at its placeholders. Quoted strings ('…', "…", `…`), `--` and `/* */`
    /// comments and PostgreSQL's `::` casts are left alone, as are `$1`-style numbers.
    public init(_ text: String) {
        self.text = text
        var pieces: [Piece] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var textStart = 0
        func flush(_ end: Int) {
            if end > textStart {
                pieces.append(.text(Substring(String(String.UnicodeScalarView(scalars[textStart..<end])))))
            }
        }
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c.isASCII && c.properties.isAlphabetic) }
        func isName(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || (c.isASCII && c.properties.numericType != nil) }
        while index < scalars.count {
            let c = scalars[index]
            switch c {
            case "'", "\"", "`":
                index += 1
                while index < scalars.count {
                    if scalars[index] == c {
                        // A doubled quote stays inside the string.
                        if index + 1 < scalars.count && scalars[index + 1] == c {
                            index += 2
                            continue
                        }
                        break
                    }
                    if scalars[index] == "\\" && c == "'" { index += 1 }
                    index += 1
                }
                index += 1
            case "-" where index + 1 < scalars.count && scalars[index + 1] == "-":
                while index < scalars.count && scalars[index] != "\n" { index += 1 }
            case "/" where index + 1 < scalars.count && scalars[index + 1] == "*":
                index += 2
                while index + 1 < scalars.count && !(scalars[index] == "*" && scalars[index + 1] == "/") { index += 1 }
                index += 2
            case ":" where index + 1 < scalars.count && scalars[index + 1] == ":":
                index += 2
            case "?":
                flush(index)
                pieces.append(.positional)
                index += 1
                textStart = index
            case ":", "$":
                guard index + 1 < scalars.count, isNameStart(scalars[index + 1]) else {
                    index += 1
                    continue
                }
                flush(index)
                var end = index + 1
                while end < scalars.count && isName(scalars[end]) { end += 1 }
                pieces.append(.named(String(String.UnicodeScalarView(scalars[(index + 1)..<end]))))
                index = end
                textStart = index
            default:
                index += 1
            }
        }
        flush(min(index, scalars.count))
        self.pieces = pieces
    }

    /// How many placeholders the statement has.
    public var placeholderCount: Int {
        pieces.reduce(0) { count, piece in if case .text = piece { count } else { count + 1 } }
    }

    /// The statement with each placeholder written by `placeholder` (given the value and its
    /// 1-based position), and the values in order.
    func render(
        _ parameters: Parameters, placeholder: (Value, Int) throws(DatasourceError) -> String
    ) throws(DatasourceError) -> (sql: String, values: [Value]) {
        var sql = ""
        var values: [Value] = []
        var nextPositional = 0
        for piece in pieces {
            let value: Value
            switch piece {
            case .text(let text):
                sql += text
                continue
            case .positional:
                guard case .positional(let list) = parameters, nextPositional < list.count else {
                    throw DatasourceError(
                        .request, "no value for placeholder \(nextPositional + 1) ('?') in the parameters")
                }
                value = list[nextPositional]
                nextPositional += 1
            case .named(let name):
                guard case .named(let map) = parameters, let found = map[name] else {
                    throw DatasourceError(.request, "no value for the placeholder :\(name) in the parameters")
                }
                value = found
            }
            values.append(value)
            sql += try placeholder(value, values.count)
        }
        return (sql, values)
    }
}
