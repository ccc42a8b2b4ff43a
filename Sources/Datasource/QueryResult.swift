/// What a statement gave back: its columns and rows (values as text, nil for SQL NULL, as
/// Momentum's msys.db returns them), or how many rows it changed.
public struct QueryResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String?]]
    /// Rows inserted, updated or deleted (0 for a query).
    public var affectedRows: Int

    public init(columns: [String] = [], rows: [[String?]] = [], affectedRows: Int = 0) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// Octets of names and values (what the result costs to keep).
    public var octets: Int {
        columns.reduce(0) { $0 + $1.utf8.count }
            + rows.reduce(0) { total, row in
                row.reduce(total) { $0 + ($1?.utf8.count ?? 0) + 8 }
            }
    }

    /// Collects rows while keeping `maxRows` and `DatasourceLimits.maxResultOctets`.
    struct Collector {
        var result = QueryResult()
        let maxRows: Int
        var octets = 0

        init(maxRows: Int) { self.maxRows = maxRows }

        /// false once `maxRows` rows are in (the rest are not read); throws past the octet bound.
        mutating func add(_ row: [String?]) throws(DatasourceError) -> Bool {
            guard result.rows.count < maxRows else { return false }
            octets += row.reduce(8) { $0 + ($1?.utf8.count ?? 0) + 8 }
            guard octets <= DatasourceLimits.maxResultOctets else {
                throw DatasourceError(
                    .statement, "the result is larger than \(DatasourceLimits.maxResultOctets) octets")
            }
            result.rows.append(row)
            return result.rows.count < maxRows
        }
    }
}
