/// A value in ecelerity.conf: a scalar, a `( … )` list or a `[ k = v … ]` dictionary.
public indirect enum ConfigValue: Sendable, Equatable {
    case scalar(String, quoted: Bool, SourceLocation)
    case list([ConfigValue], SourceLocation)
    case dictionary([ConfigDictionaryEntry], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, _, let location), .list(_, let location), .dictionary(_, let location): return location
        }
    }

    var kindName: String {
        switch self {
        case .scalar: return "a single value"
        case .list: return "a list ( … )"
        case .dictionary: return "a dictionary [ … ]"
        }
    }
}

public struct ConfigDictionaryEntry: Sendable, Equatable {
    public var key: String
    public var value: ConfigValue
    public var location: SourceLocation
}

/// `Name = value` (the `=` is optional before a list or a dictionary).
public struct ConfigOption: Sendable, Equatable {
    /// Lower-cased: names are case-insensitive.
    public var name: String
    /// As written, for messages.
    public var spelling: String
    public var value: ConfigValue
    public var location: SourceLocation
}

/// `Keyword { … }` or `Keyword "instance" { … }`; the file itself is the global scope.
public struct ConfigScope: Sendable, Equatable {
    public var keyword: String
    public var spelling: String
    public var instance: String?
    public var location: SourceLocation
    public var options: [ConfigOption] = []
    public var scopes: [ConfigScope] = []

    public init(keyword: String, spelling: String, instance: String?, location: SourceLocation) {
        self.keyword = keyword
        self.spelling = spelling
        self.instance = instance
        self.location = location
    }

    /// "ESMTP_Listener", `Listen "127.0.0.1:25"` — for messages.
    public var displayName: String {
        instance.map { "\(spelling) \"\($0)\"" } ?? spelling
    }
}
