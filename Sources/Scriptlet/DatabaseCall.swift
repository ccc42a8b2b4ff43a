import LuaBridge

/// One msys.db call as Impulse's Lua sends it (docs/datasources.md): the datasource, the
/// statement, its parameters and the `nocache` option.
public struct DatabaseCall: Equatable, Sendable {
    public enum Operation: String, Sendable {
        case query, fetchRow = "fetch_row", execute
    }

    public enum Parameters: Equatable, Sendable {
        case positional([String?])
        case named([String: String?])
    }

    public var operation: Operation
    public var cache: String
    public var sql: String
    public var parameters: Parameters
    public var noCache: Bool

    public init(operation: Operation, cache: String, sql: String, parameters: Parameters, noCache: Bool) {
        self.operation = operation
        self.cache = cache
        self.sql = sql
        self.parameters = parameters
        self.noCache = noCache
    }

    /// Decodes `(kind, operation, cache, sql, nocache, "p", n, values… | "n", name, value, …)`
    /// from argument `first` on (the kind at `first - 1`).
    static func decode(_ arguments: LuaArguments, from first: Int) -> Result<DatabaseCall, EffectDecodingError> {
        guard let operationName = arguments.string(first), let operation = Operation(rawValue: operationName),
            let cache = arguments.string(first + 1), let sql = arguments.string(first + 2),
            let noCache = arguments.string(first + 3), let kind = arguments.string(first + 4)
        else { return .failure(EffectDecodingError("msys.db: bad call")) }
        guard sql.utf8.count <= PolicyLimits.maxDatabaseStatement else {
            return .failure(
                EffectDecodingError("msys.db: the statement is longer than \(PolicyLimits.maxDatabaseStatement) octets")
            )
        }
        let start = first + 5
        let parameters: Parameters
        switch kind {
        case "p":
            guard let count = arguments[start].integer(in: 0...PolicyLimits.maxDatabaseParameters) else {
                return .failure(
                    EffectDecodingError("msys.db: more than \(PolicyLimits.maxDatabaseParameters) parameters"))
            }
            parameters = .positional((0..<count).map { arguments.string(start + 1 + $0) })
        case "n":
            var named: [String: String?] = [:]
            var index = start
            while index <= arguments.count {
                guard let name = arguments.string(index) else {
                    return .failure(EffectDecodingError("msys.db: bad parameter name"))
                }
                named[name] = .some(arguments.string(index + 1))
                index += 2
            }
            guard named.count <= PolicyLimits.maxDatabaseParameters else {
                return .failure(
                    EffectDecodingError("msys.db: more than \(PolicyLimits.maxDatabaseParameters) parameters"))
            }
            parameters = .named(named)
        default:
            return .failure(EffectDecodingError("msys.db: bad parameters"))
        }
        return .success(
            DatabaseCall(operation: operation, cache: cache, sql: sql, parameters: parameters, noCache: noCache == "1"))
    }

    /// What msys.db gets back on success: the column count, the names and values as one string
    /// (each `<length>:<octets>`, `-` for NULL; Impulse's Lua takes it apart), and the rows
    /// changed. One string, so a large result is not thousands of values on the Lua stack.
    public static func success(columns: [String], rows: [[String?]], affectedRows: Int) -> EffectResult {
        var blob: [UInt8] = []
        func add(_ value: String?) {
            guard let value else {
                blob.append(UInt8(ascii: "-"))
                return
            }
            blob += Array(String(value.utf8.count).utf8)
            blob.append(UInt8(ascii: ":"))
            blob += Array(value.utf8)
        }
        columns.forEach(add)
        for row in rows { row.forEach(add) }
        return .ok([.number(Double(columns.count)), .bytes(blob), .number(Double(affectedRows))])
    }
}
