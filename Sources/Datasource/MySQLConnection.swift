import CMariaDB
import Foundation

/// The `mysql` driver: a connection to MySQL or MariaDB through Debian's MariaDB Connector/C.
/// URI keys as Momentum's ds_mysql takes them: host, port, dbname, user, password, and
/// unix_socket (or socket). Values are sent as quoted literals escaped by the library for the
/// connection's character set. Connecting, reading and writing are each bounded in time.
final class MySQLConnection: DatabaseConnection {
    private let handle: UnsafeMutablePointer<MYSQL>
    private var broken = false

    /// The library's global set-up, which is not thread-safe: done once, before any connection.
    private static let libraryReady: Bool = mysql_server_init(0, nil, nil) == 0

    init(parameters: [String: String]) throws(DatasourceError) {
        guard Self.libraryReady else { throw DatasourceError(.connection, "mysql: the client library did not start") }
        guard let made = mysql_init(nil) else { throw DatasourceError(.connection, "mysql: out of memory") }
        var connectTimeout = UInt32(DatasourceLimits.connectTimeout)
        var ioTimeout = UInt32(DatasourceLimits.queryTimeout)
        mysql_options(made, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(made, MYSQL_OPT_READ_TIMEOUT, &ioTimeout)
        mysql_options(made, MYSQL_OPT_WRITE_TIMEOUT, &ioTimeout)
        mysql_options(made, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        let port = UInt32(parameters["port"] ?? "") ?? 0
        let socket = parameters["unix_socket"] ?? parameters["socket"]
        guard
            mysql_real_connect(
                made, parameters["host"], parameters["user"], parameters["password"],
                parameters["dbname"] ?? parameters["database"], port, socket, 0) != nil
        else {
            let reason = String(cString: mysql_error(made))
            mysql_close(made)
            throw DatasourceError(.connection, "mysql: cannot connect: \(reason)")
        }
        handle = made
    }

    deinit { mysql_close(handle) }

    var isUsable: Bool { !broken }

    /// A value as a quoted SQL literal, escaped by the library for the connection's character set.
    private func literal(_ value: String?) -> String {
        guard let value else { return "NULL" }
        let source = Array(value.utf8)
        var escaped = [CChar](repeating: 0, count: source.count * 2 + 1)
        let length = source.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                mysql_real_escape_string(handle, &escaped, $0.baseAddress, UInt(source.count))
            }
        }
        return "'" + String(decoding: escaped.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + "'"
    }

    func run(_ statement: SQLStatement, _ parameters: SQLStatement.Parameters, maxRows: Int) throws(DatasourceError)
        -> QueryResult
    {
        let (sql, _) = try statement.render(parameters) { value, _ in literal(value) }
        let octets = Array(sql.utf8)
        let status = octets.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { mysql_real_query(handle, $0.baseAddress, UInt(octets.count)) }
        }
        guard status == 0 else { throw failure() }
        guard let stored = mysql_store_result(handle) else {
            if mysql_field_count(handle) != 0 { throw failure() }
            return QueryResult(affectedRows: Int(mysql_affected_rows(handle)))
        }
        defer { mysql_free_result(stored) }
        var collector = QueryResult.Collector(maxRows: maxRows)
        let columns = Int(mysql_num_fields(stored))
        if let fields = mysql_fetch_fields(stored) {
            collector.result.columns = (0..<columns).map { String(cString: fields[$0].name) }
        }
        while let row = mysql_fetch_row(stored) {
            guard let lengths = mysql_fetch_lengths(stored) else { break }
            let values: [String?] = (0..<columns).map { column in
                guard let value = row[column] else { return nil }
                return value.withMemoryRebound(to: UInt8.self, capacity: Int(lengths[column])) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: Int(lengths[column])), as: UTF8.self)
                }
            }
            guard try collector.add(values) else { break }
        }
        return collector.result
    }

    /// The library's error; a lost connection (2006, 2013) is not used again.
    private func failure() -> DatasourceError {
        let code = mysql_errno(handle)
        let reason = String(cString: mysql_error(handle))
        if code == 2006 || code == 2013 || code == 2055 {
            broken = true
            return DatasourceError(.connection, "mysql: \(reason)")
        }
        return DatasourceError(.statement, "mysql: \(reason)")
    }
}
