import CSQLite3
import Foundation

/// The `sqlite` driver: a database file opened with Debian's libsqlite3. A query that runs
/// past `DatasourceLimits.queryTimeout` is interrupted; a locked file is waited for at most
/// `DatasourceLimits.sqliteBusyTimeout` milliseconds.
final class SQLiteConnection: DatabaseConnection {
    private let handle: OpaquePointer
    /// When the running statement must stop (read by the progress handler).
    private let deadline = UnsafeMutablePointer<Double>.allocate(capacity: 1)

    init(path: String) throws(DatasourceError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let reason = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(opened)
            throw DatasourceError(.connection, "sqlite: cannot open \(path): \(reason)")
        }
        handle = opened
        deadline.initialize(to: .infinity)
        sqlite3_busy_timeout(handle, Int32(DatasourceLimits.sqliteBusyTimeout))
        sqlite3_progress_handler(
            handle, 10_000,
            { context in
                guard let context else { return 0 }
                let deadline = context.assumingMemoryBound(to: Double.self).pointee
                return Date().timeIntervalSince1970 > deadline ? 1 : 0
            }, UnsafeMutableRawPointer(deadline))
    }

    deinit {
        sqlite3_close_v2(handle)
        deadline.deallocate()
    }

    var isUsable: Bool { true }

    func run(_ statement: SQLStatement, _ parameters: SQLStatement.Parameters, maxRows: Int) throws(DatasourceError)
        -> QueryResult
    {
        let (sql, values) = try statement.render(parameters) { _, _ in "?" }
        var prepared: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        guard sqlite3_prepare_v2(handle, sql, -1, &prepared, &tail) == SQLITE_OK, let prepared else {
            throw DatasourceError(.statement, "sqlite: " + String(cString: sqlite3_errmsg(handle)))
        }
        defer { sqlite3_finalize(prepared) }
        if let tail, String(cString: tail).contains(where: { !$0.isWhitespace && $0 != ";" }) {
            throw DatasourceError(.request, "sqlite: one statement per query")
        }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let status =
                value.map { sqlite3_bind_text(prepared, position, $0, -1, transient) }
                ?? sqlite3_bind_null(prepared, position)
            guard status == SQLITE_OK else {
                throw DatasourceError(.statement, "sqlite: " + String(cString: sqlite3_errmsg(handle)))
            }
        }
        deadline.pointee = Date().timeIntervalSince1970 + Double(DatasourceLimits.queryTimeout)
        defer { deadline.pointee = .infinity }
        var collector = QueryResult.Collector(maxRows: maxRows)
        let columnCount = sqlite3_column_count(prepared)
        collector.result.columns = (0..<columnCount).map { String(cString: sqlite3_column_name(prepared, $0)) }
        while true {
            let status = sqlite3_step(prepared)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else {
                let reason =
                    status == SQLITE_INTERRUPT
                    ? "the query ran longer than \(DatasourceLimits.queryTimeout) seconds"
                    : String(cString: sqlite3_errmsg(handle))
                throw DatasourceError(.statement, "sqlite: \(reason)")
            }
            let row: [String?] = (0..<columnCount).map { column in
                guard sqlite3_column_type(prepared, column) != SQLITE_NULL,
                    let text = sqlite3_column_text(prepared, column)
                else { return nil }
                let length = Int(sqlite3_column_bytes(prepared, column))
                return String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)
            }
            guard try collector.add(row) else { break }
        }
        if columnCount == 0 { collector.result.affectedRows = Int(sqlite3_changes(handle)) }
        return collector.result
    }
}
