import CLibPQ
import Foundation

/// The `pgsql` driver: a connection through Debian's libpq. The URI's `key=value` pairs are
/// libpq's connection keywords (host, port, dbname, user, password, sslmode, …). Connecting is
/// bounded by `connect_timeout`, each statement by `statement_timeout`, and a server that stops
/// answering is noticed by TCP keepalives.
final class PostgreSQLConnection: DatabaseConnection {
    private let connection: OpaquePointer

    init(parameters: [String: String]) throws(DatasourceError) {
        var keywords = parameters
        keywords["connect_timeout"] = String(DatasourceLimits.connectTimeout)
        keywords["options"] = "-c statement_timeout=\(DatasourceLimits.queryTimeout * 1000)"
        keywords["keepalives"] = "1"
        keywords["keepalives_idle"] = "5"
        keywords["keepalives_interval"] = "2"
        keywords["keepalives_count"] = "3"
        keywords["tcp_user_timeout"] = String(DatasourceLimits.queryTimeout * 1000)
        keywords["application_name"] = "impulse"
        let info = keywords.sorted { $0.key < $1.key }.map { key, value in
            let quoted = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(quoted)'"
        }.joined(separator: " ")
        guard let made = PQconnectdb(info) else {
            throw DatasourceError(.connection, "pgsql: out of memory")
        }
        guard PQstatus(made) == CONNECTION_OK else {
            let reason = Self.trimmed(PQerrorMessage(made))
            PQfinish(made)
            throw DatasourceError(.connection, "pgsql: cannot connect: \(reason)")
        }
        connection = made
    }

    deinit { PQfinish(connection) }

    var isUsable: Bool { PQstatus(connection) == CONNECTION_OK }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func run(_ statement: SQLStatement, _ parameters: SQLStatement.Parameters, maxRows: Int) throws(DatasourceError)
        -> QueryResult
    {
        let (sql, values) = try statement.render(parameters) { _, position in "$\(position)" }
        let copies = values.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer<CChar>($0) }
        let result = pointers.withUnsafeBufferPointer { buffer in
            PQexecParams(connection, sql, Int32(values.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK:
            var collector = QueryResult.Collector(maxRows: maxRows)
            let columns = PQnfields(result)
            collector.result.columns = (0..<columns).map { String(cString: PQfname(result, $0)) }
            for row in 0..<PQntuples(result) {
                let values: [String?] = (0..<columns).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
                guard try collector.add(values) else { break }
            }
            return collector.result
        case PGRES_COMMAND_OK:
            return QueryResult(affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        default:
            let reason = Self.trimmed(result.map { PQresultErrorMessage($0) } ?? PQerrorMessage(connection))
            throw DatasourceError(isUsable ? .statement : .connection, "pgsql: \(reason)")
        }
    }
}
