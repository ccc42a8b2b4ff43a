/// Why a query failed, as msys.db returns it (`nil, err`) or raises it.
public struct DatasourceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server could not be reached, or the connection broke: another URI may do.
        case connection
        /// The statement failed (syntax, constraint, time-out): another URI would fail it too.
        case statement
        /// The request itself is wrong (unknown datasource, missing parameter, too large).
        case request
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
