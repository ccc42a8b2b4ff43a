/// Every bound on what a datasource, its database or a script can make Impulse spend, in one
/// place (docs/datasources.md, "Limits").
public enum DatasourceLimits {
    /// Seconds to connect to a database server (libpq's connect_timeout, MySQL's
    /// MYSQL_OPT_CONNECT_TIMEOUT).
    public static let connectTimeout = 5
    /// Seconds a query may run (PostgreSQL's statement_timeout, MySQL's read and write
    /// time-outs, SQLite's progress handler) — and wait for a free connection first.
    public static let queryTimeout = 10
    /// Seconds a URI that could not be connected to is skipped before it is tried again, so a
    /// dead server costs one connection attempt, not one per query.
    public static let retryAfterFailure = 5
    /// Milliseconds SQLite waits for a locked database file.
    public static let sqliteBusyTimeout = 5000
    /// Rows a query returns at most whatever `max_rows` says (`max_rows = -1`).
    public static let maxRows = 100_000
    /// Octets of one query's result (names and values) at most.
    public static let maxResultOctets = 16 << 20
    /// Octets one cache keeps at most (results larger than a sixteenth of it are not cached).
    public static let maxCacheOctets = 64 << 20
}
