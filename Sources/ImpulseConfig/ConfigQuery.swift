/// Momentum's console `config get` and `config eval` (and `msys.config`, which runs them) over
/// the configuration as it was last read (at start or `config reload`).
///
/// The words after the action name a scope path, then the option:
/// `get max_outbound_connections`, `get domain yahoo.com max_outbound_connections`,
/// `eval binding b1 domain example.com retry_interval`. A scope keyword is followed by its
/// instance name when the file has such a scope with that name.
///
/// `get` reads the option in that scope only; `eval` also looks in the enclosing scopes, up to
/// the global one (the fallback the file's nesting expresses). Neither knows Momentum's built-in
/// defaults: an option set nowhere answers "not set" (docs/console.md).
public struct ConfigQuery: Sendable {
    let root: ConfigScope

    public init(root: ConfigScope) { self.root = root }

    /// The option's value (nil when it is not set) and the console's text for `words`
    /// (`get`/`eval`, then the scope path and the option).
    public func answer(_ words: [String]) -> (value: String?, text: String) {
        guard let action = words.first?.lowercased(), action == "get" || action == "eval" else {
            return (nil, "config: only 'get' and 'eval' are available (Impulse changes configuration by reload)\n")
        }
        guard words.count >= 2 else { return (nil, "config \(action): which option?\n") }
        var path: [ConfigScope] = [root]
        var rest = Array(words.dropFirst())
        while rest.count > 1 {
            let keyword = rest[0].lowercased()
            let current = path[path.count - 1]
            if rest.count > 2,
                let named = current.scopes.first(where: {
                    $0.keyword == keyword && $0.instance?.lowercased() == rest[1].lowercased()
                })
            {
                path.append(named)
                rest.removeFirst(2)
            } else if let plain = current.scopes.first(where: { $0.keyword == keyword && $0.instance == nil }) {
                path.append(plain)
                rest.removeFirst()
            } else {
                let instance = rest.count > 2 ? " \(rest[1])" : ""
                return (nil, "No such scope '\(rest[0])\(instance)' in scope '\(Self.name(of: path))'.\n")
            }
        }
        let option = rest[0].lowercased()
        let scopes = action == "get" ? [path[path.count - 1]] : path.reversed()
        for scope in scopes {
            if let found = scope.options.last(where: { $0.name == option }) {
                let value = Self.text(of: found.value)
                // A password is not printed on the console (scripts still get it).
                return (value, "\(found.spelling) = \(Self.secretOptions.contains(option) ? "(hidden)" : value)\n")
            }
        }
        return (nil, "Option '\(rest[0])' is not set in scope '\(Self.name(of: path))'.\n")
    }

    /// Options whose value the console does not print.
    static let secretOptions: Set<String> = ["outbound_smtp_auth_pass"]

    /// `domain "yahoo.com"` style names of a path, `''` for the global scope.
    static func name(of path: [ConfigScope]) -> String {
        path.dropFirst().map { $0.displayName }.joined(separator: " ")
    }

    /// A value written back as the configuration language has it.
    static func text(of value: ConfigValue) -> String {
        switch value {
        case .scalar(let text, let quoted, _):
            return quoted && text.contains(where: { $0 == " " || $0 == "\t" }) ? "\"\(text)\"" : text
        case .list(let items, _):
            return "( " + items.map { text(of: $0) }.joined(separator: " ") + " )"
        case .dictionary(let entries, _):
            return "[ " + entries.map { "\($0.key) = \(text(of: $0.value))" }.joined(separator: " ") + " ]"
        }
    }
}
