import Foundation
import SMTPProtocol

/// Where one SASL mechanism of a listener finds its credentials: Momentum's
/// `AuthLoginParameters = [ uri = "…" ]` (and `AuthPlainParameters`, `AuthCramMD5Parameters`).
/// docs/smtp-auth.md.
public struct AuthBackend: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// `file://path`: a password file, read with the configuration.
        case file(PasswordFile)
        /// `scheme://rest`: a scheme a policy registers with msys.registerAuth; its
        /// `authenticate(rest, parameters, user, password)` decides.
        case script(scheme: String, path: String)
        /// `ecauth://DATASOURCE` with `query = "SELECT … :username …"`: Momentum's auth_ds, a
        /// datasource look-up. With `:password` in the query a returned row is a success;
        /// without, the row's first column is the stored password (clear or crypt(3)).
        case datasource(name: String, query: String)
    }

    public var uri: String
    public var source: Source
    /// The dictionary as written (msys.registerAuth's `authenticate` gets it).
    public var parameters: [String: String]
    /// `log_authentication`: successes are logged too, not only failures.
    public var logAuthentication: Bool
    public var location: SourceLocation

    public init(
        uri: String, source: Source, parameters: [String: String] = [:], logAuthentication: Bool = false,
        location: SourceLocation = SourceLocation(file: "", line: 0, column: 0)
    ) {
        self.uri = uri
        self.source = source
        self.parameters = parameters
        self.logAuthentication = logAuthentication
        self.location = location
    }

    /// Reads `AuthXParameters = [ uri = "…" … ]`; a password file is read now, its mistakes
    /// reported at their file:line.
    static func parse(_ option: ConfigOption) throws(ConfigError) -> AuthBackend {
        let entries = try OptionReader.dictionary(option)
        var parameters: [String: String] = [:]
        for (key, value) in entries { parameters[key.lowercased()] = value }
        guard let uri = parameters["uri"], let separator = uri.range(of: "://") else {
            throw ConfigError(
                option.value.location,
                "'\(option.spelling)' needs uri = \"file:///path\" or uri = \"scheme://…\" (a msys.registerAuth scheme)"
            )
        }
        let scheme = uri[..<separator.lowerBound].lowercased()
        let rest = String(uri[separator.upperBound...])
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw ConfigError(option.value.location, "'\(option.spelling)': '\(uri)' is not a scheme://… URI")
        }
        let logs = ["true", "yes", "1", "on"].contains(parameters["log_authentication"]?.lowercased() ?? "")
        switch scheme {
        case "file":
            let path = OptionReader.resolve(path: rest, relativeTo: option.location.file)
            let file = try PasswordFile.load(path, at: option.value.location)
            return AuthBackend(
                uri: uri, source: .file(file), parameters: parameters, logAuthentication: logs,
                location: option.location)
        case "ecauth":
            let name = rest.hasSuffix("/") ? String(rest.dropLast()) : rest
            guard !name.isEmpty, !name.contains("/") else {
                throw ConfigError(
                    option.value.location,
                    "'\(option.spelling)': ecauth://DATASOURCE names a Datasource scope, e.g. uri = \"ecauth://users\"")
            }
            guard let query = parameters["query"], query.contains(":username") else {
                throw ConfigError(
                    option.value.location,
                    """
                    '\(option.spelling)': ecauth:// needs query = "SELECT password FROM users WHERE name = :username" \
                    (:username is the user; with :password in it, a row means the password is right)
                    """)
            }
            return AuthBackend(
                uri: uri, source: .datasource(name: name, query: query), parameters: parameters,
                logAuthentication: logs, location: option.location)
        case "digest", "groups":
            throw ConfigError(
                option.value.location,
                """
                '\(option.spelling)': the \(scheme):// back-end is not supported yet; use file:// (clear-text or \
                crypt(3)-hashed passwords) or a scheme a policy registers with msys.registerAuth
                """)
        default:
            return AuthBackend(
                uri: uri, source: .script(scheme: scheme, path: rest), parameters: parameters, logAuthentication: logs,
                location: option.location)
        }
    }
}

/// A password file for `file://`: `user:password` lines, `#` comments and blank lines ignored.
/// A password that starts with `$` is a crypt(3) hash (yescrypt `$y$`, bcrypt `$2b$`, SHA-512
/// `$6$`, SHA-256 `$5$` … as the system's libcrypt knows them); any other is clear text.
public struct PasswordFile: Sendable, Equatable {
    public enum StoredPassword: Sendable, Equatable {
        case clear(String)
        case hashed(String)
    }

    public var path: String
    public var entries: [String: StoredPassword]

    /// Larger files are refused: a password file is a configuration file.
    static let maxSize = 16 << 20

    public init(path: String, entries: [String: StoredPassword]) {
        self.path = path
        self.entries = entries
    }

    /// Whether any user has a clear-text password (CRAM-MD5 needs one).
    public var hasClearText: Bool {
        entries.values.contains { if case .clear = $0 { true } else { false } }
    }

    static func load(_ path: String, at location: SourceLocation) throws(ConfigError) -> PasswordFile {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = attributes?[.size] as? Int, let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(location, "password file '\(path)' cannot be read")
        }
        guard size <= maxSize else { throw ConfigError(location, "password file '\(path)' is larger than 16 MiB") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(location, "password file '\(path)' is not UTF-8")
        }
        var entries: [String: StoredPassword] = [:]
        var errors: [ConfigDiagnostic] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let here = SourceLocation(file: path, line: index + 1, column: 1)
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                errors.append(ConfigDiagnostic(.error, here, "expected user:password"))
                continue
            }
            let user = String(line[..<colon])
            let password = String(line[line.index(after: colon)...])
            guard !password.isEmpty else {
                errors.append(ConfigDiagnostic(.error, here, "user '\(user)' has an empty password"))
                continue
            }
            guard entries[user] == nil else {
                errors.append(ConfigDiagnostic(.error, here, "user '\(user)' is listed twice"))
                continue
            }
            entries[user] = password.hasPrefix("$") ? .hashed(password) : .clear(password)
        }
        if !errors.isEmpty { throw ConfigError(errors) }
        return PasswordFile(path: path, entries: entries)
    }
}
