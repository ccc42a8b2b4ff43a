/// The `domain` or `host` scopes of one container (global, a binding, a binding_group): their
/// options by exact name, and `/PCRE/` scopes in file order. A name finds its exact scope first,
/// else the first pattern that matches it (Momentum's manual on regex domain scopes).
public struct NamedScopes: Sendable {
    /// Lower-cased name → options.
    public var exact: [String: OutboundOptions] = [:]
    public var patterns: [(pattern: ScopePattern, options: OutboundOptions)] = []

    public init() {}

    public var isEmpty: Bool { exact.isEmpty && patterns.isEmpty }

    /// The scope `name` (lower-case) falls in: the scope's name as written (exact name or
    /// `/pattern/`) and its options.
    public func lookup(_ name: String) -> (scope: String, options: OutboundOptions)? {
        if let options = exact[name] { return (name, options) }
        for entry in patterns where entry.pattern.matches(name) { return (entry.pattern.text, entry.options) }
        return nil
    }

    /// The options of an exact name (nil when that scope is not declared).
    public subscript(name: String) -> OutboundOptions? {
        get { exact[name] }
        set { exact[name] = newValue }
    }

    /// The options declared under a pattern's text (a second declaration merges into the first).
    func patternIndex(_ text: String) -> Int? { patterns.firstIndex { $0.pattern.text == text } }
}
