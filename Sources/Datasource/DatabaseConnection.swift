/// One open connection of a datasource driver. Blocking: used by one datasource thread at a
/// time, never on an event loop.
protocol DatabaseConnection: AnyObject {
    /// Runs `statement` with `parameters`, keeping at most `maxRows` rows.
    func run(_ statement: SQLStatement, _ parameters: SQLStatement.Parameters, maxRows: Int) throws(DatasourceError)
        -> QueryResult
    /// Whether the connection can still be used (a broken one is closed, not reused).
    var isUsable: Bool { get }
}
