/// A `Datasource "name"` scope (Momentum's ds_core): where msys.db's queries for cache `name` go,
/// and how their results are cached (docs/datasources.md).
public struct DatasourceDefinition: Sendable, Equatable {
    /// One `uri` entry: the driver and its parameters (`sqlite:/path`,
    /// `pgsql:host=…;dbname=…;user=…;password=…`, `mysql:host=…;dbname=…;user=…;password=…`).
    public struct URI: Sendable, Equatable {
        public enum Driver: String, Sendable, CaseIterable {
            case sqlite, pgsql, mysql
        }

        public var driver: Driver
        /// `key=value` pairs (`;` or white space between them); for sqlite a bare path is `dbname`.
        public var parameters: [String: String]
        public var location: SourceLocation

        /// The text as written with any password replaced (for logs and the console).
        public var redacted: String {
            let pairs = parameters.sorted { $0.key < $1.key }.map {
                "\($0.key)=\($0.key == "password" ? "…" : $0.value)"
            }
            return "\(driver.rawValue):" + pairs.joined(separator: ";")
        }

        /// Parses `driver:rest`; nil with the reason when the driver is not one Impulse has.
        public static func parse(_ text: String, location: SourceLocation) -> Result<URI, ConfigError> {
            guard let colon = text.firstIndex(of: ":") else {
                return .failure(ConfigError(location, "datasource uri '\(text)' has no driver (e.g. sqlite:/path)"))
            }
            let name = text[..<colon].lowercased()
            guard let driver = Driver(rawValue: name == "pg" || name == "postgresql" ? "pgsql" : name) else {
                return .failure(
                    ConfigError(
                        location,
                        "datasource driver '\(name)' is not supported (sqlite, pgsql, mysql): "
                            + "a datasource that cannot be queried would fail every look-up"))
            }
            let rest = String(text[text.index(after: colon)...])
            var parameters: [String: String] = [:]
            if driver == .sqlite && !rest.contains("=") {
                parameters["dbname"] = rest
            } else {
                for pair in rest.split(whereSeparator: { $0 == ";" || $0 == " " || $0 == "\t" }) {
                    guard let equals = pair.firstIndex(of: "=") else {
                        return .failure(ConfigError(location, "datasource uri: '\(pair)' is not key=value"))
                    }
                    parameters[pair[..<equals].lowercased()] = String(pair[pair.index(after: equals)...])
                }
            }
            if driver == .sqlite && (parameters["dbname"] ?? "").isEmpty {
                return .failure(ConfigError(location, "datasource uri '\(text)': no database file"))
            }
            return .success(URI(driver: driver, parameters: parameters, location: location))
        }
    }

    public var name: String
    /// Tried in turn (round-robin), the next one when one fails.
    public var uris: [URI] = []
    /// Cached results at most (`cache_size`, Momentum's default 1000).
    public var cacheSize = 1000
    /// Seconds a cached result is used (`cache_life`, default 3600).
    public var cacheLife = 3600
    /// Rows a query returns at most (`max_rows`, default 100; -1: up to Impulse's own bound).
    public var maxRows = 100
    /// No result caching at all (`no_cache`).
    public var noCache = false
    /// The thread pool whose size sets how many queries run at once (`pool`, default IO).
    public var pool = "IO"
    /// One query at a time, on one connection (`serialized`, default true).
    public var serialized = true
    public var location: SourceLocation

    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}
