import Foundation

/// Parses ecelerity.conf files into a `ConfigScope` tree, following `include` and
/// `readonly_include` (a file or a directory of non-hidden files in alphabetical order; relative
/// paths resolve against the including file's directory).
public struct ConfigParser {
    /// Deepest include nesting accepted (guards against include cycles through links).
    public static let maxIncludeDepth = 16

    public init() {}

    /// Reads and parses `path` as the global scope.
    public func parseFile(atPath path: String) throws(ConfigError) -> ConfigScope {
        var root = ConfigScope(
            keyword: "global", spelling: "global", instance: nil,
            location: SourceLocation(file: path, line: 1, column: 1))
        try include(path: path, from: nil, into: &root, stack: [])
        return root
    }

    /// Parses text that did not come from a file (tests, console).
    public func parse(text: String, file: String = "<text>") throws(ConfigError) -> ConfigScope {
        var root = ConfigScope(
            keyword: "global", spelling: "global", instance: nil,
            location: SourceLocation(file: file, line: 1, column: 1))
        var lexer = ConfigLexer(file: file, text: text)
        var stream = TokenStream(tokens: try lexer.tokenize())
        try parseBody(&stream, into: &root, closing: false, stack: [file])
        return root
    }

    func include(path: String, from location: SourceLocation?, into scope: inout ConfigScope, stack: [String])
        throws(ConfigError)
    {
        let here = location ?? SourceLocation(file: path, line: 1, column: 1)
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        guard !stack.contains(canonical) else {
            throw ConfigError(here, "include cycle: '\(path)' is already being read")
        }
        guard stack.count < Self.maxIncludeDepth else {
            throw ConfigError(here, "includes nested deeper than \(Self.maxIncludeDepth)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(
                here,
                location == nil
                    ? "cannot read configuration file '\(path)': no such file"
                    : "cannot include '\(path)': no such file or directory")
        }
        if isDirectory.boolValue {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw ConfigError(here, "cannot list directory '\(path)': \(error.localizedDescription)")
            }
            for name in names.filter({ !$0.hasPrefix(".") }).sorted() {
                try include(
                    path: (path as NSString).appendingPathComponent(name), from: here, into: &scope,
                    stack: stack + [canonical])
            }
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(here, "cannot read '\(path)': permission denied or not a regular file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(SourceLocation(file: path, line: 1, column: 1), "file is not valid UTF-8")
        }
        var lexer = ConfigLexer(file: path, text: text)
        var stream = TokenStream(tokens: try lexer.tokenize())
        try parseBody(&stream, into: &scope, closing: false, stack: stack + [canonical])
    }

    /// body := statement* ( '}' | end )
    func parseBody(_ stream: inout TokenStream, into scope: inout ConfigScope, closing: Bool, stack: [String])
        throws(ConfigError)
    {
        while true {
            let token = stream.next()
            switch token.kind {
            case .end:
                if closing {
                    throw ConfigError(
                        token.location, "expected '}' to close \(scope.displayName) opened at \(scope.location)")
                }
                return
            case .closeBrace:
                if !closing { throw ConfigError(token.location, "unexpected '}' with no scope open") }
                return
            case .word(let name, quoted: false):
                try parseStatement(name: name, at: token.location, &stream, into: &scope, stack: stack)
            default:
                throw ConfigError(token.location, "expected an option or scope name, found \(token.describe)")
            }
        }
    }

    func parseStatement(
        name: String, at location: SourceLocation, _ stream: inout TokenStream, into scope: inout ConfigScope,
        stack: [String]
    ) throws(ConfigError) {
        let lower = name.lowercased()
        if lower == "include" || lower == "readonly_include" {
            let target = stream.next()
            guard case .word(let path, _) = target.kind else {
                throw ConfigError(
                    target.location, "expected a file or directory name after '\(name)', found \(target.describe)")
            }
            let base = (location.file as NSString).deletingLastPathComponent
            let resolved = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
            try include(path: resolved, from: target.location, into: &scope, stack: stack)
            return
        }
        let token = stream.next()
        switch token.kind {
        case .equals:
            let value = try parseValue(&stream, after: name)
            scope.options.append(ConfigOption(name: lower, spelling: name, value: value, location: location))
        case .openParen, .openBracket:
            stream.pushBack()
            let value = try parseValue(&stream, after: name)
            scope.options.append(ConfigOption(name: lower, spelling: name, value: value, location: location))
        case .openBrace:
            var child = ConfigScope(keyword: lower, spelling: name, instance: nil, location: location)
            try parseBody(&stream, into: &child, closing: true, stack: stack)
            scope.scopes.append(child)
        case .word(let instance, _):
            let brace = stream.next()
            guard brace.kind == .openBrace else {
                throw ConfigError(
                    brace.location,
                    """
                    expected '{' to open scope '\(name) \"\(instance)\"', found \(brace.describe) (options need \
                    '=': \(name) = \"\(instance)\")
                    """
                )
            }
            var child = ConfigScope(keyword: lower, spelling: name, instance: instance, location: location)
            try parseBody(&stream, into: &child, closing: true, stack: stack)
            scope.scopes.append(child)
        default:
            throw ConfigError(
                token.location, "expected '=', '{' or a scope name after '\(name)', found \(token.describe)")
        }
    }

    /// value := word | '(' value* ')' | '[' (key ['='] value)* ']'
    func parseValue(_ stream: inout TokenStream, after name: String) throws(ConfigError) -> ConfigValue {
        let token = stream.next()
        switch token.kind {
        case .word(let text, let quoted):
            return .scalar(text, quoted: quoted, token.location)
        case .openParen:
            var items: [ConfigValue] = []
            while true {
                let item = stream.next()
                switch item.kind {
                case .closeParen: return .list(items, token.location)
                case .word(let text, let quoted): items.append(.scalar(text, quoted: quoted, item.location))
                case .openBracket, .openParen:
                    stream.pushBack()
                    items.append(try parseValue(&stream, after: name))
                case .end:
                    throw ConfigError(item.location, "expected ')' to close the list opened at \(token.location)")
                default:
                    throw ConfigError(item.location, "expected a list item or ')', found \(item.describe)")
                }
            }
        case .openBracket:
            var entries: [ConfigDictionaryEntry] = []
            while true {
                let key = stream.next()
                switch key.kind {
                case .closeBracket: return .dictionary(entries, token.location)
                case .word(let keyText, _):
                    var valueToken = stream.next()
                    if valueToken.kind == .equals { valueToken = stream.next() }
                    stream.pushBack()
                    switch valueToken.kind {
                    case .word, .openParen, .openBracket:
                        entries.append(
                            ConfigDictionaryEntry(
                                key: keyText, value: try parseValue(&stream, after: keyText), location: key.location))
                    default:
                        throw ConfigError(
                            valueToken.location, "expected a value for '\(keyText)', found \(valueToken.describe)")
                    }
                case .end:
                    throw ConfigError(key.location, "expected ']' to close the dictionary opened at \(token.location)")
                default:
                    throw ConfigError(key.location, "expected a key or ']', found \(key.describe)")
                }
            }
        default:
            throw ConfigError(token.location, "expected a value after '\(name) =', found \(token.describe)")
        }
    }
}

/// A cursor over tokens with one step of push-back.
struct TokenStream {
    let tokens: [ConfigToken]
    var position = 0

    mutating func next() -> ConfigToken {
        let token = tokens[min(position, tokens.count - 1)]
        position += 1
        return token
    }

    mutating func pushBack() { position -= 1 }
}
