import XCTest

@testable import Datasource

final class SQLStatementTests: XCTestCase {
    private func render(_ sql: String, _ parameters: SQLStatement.Parameters) throws -> (String, [String?]) {
        try SQLStatement(sql).render(parameters) { _, position in "$\(position)" }
    }

    func testPositionalAndNamedPlaceholders() throws {
        XCTAssertEqual(
            try render("select a from t where b = ? and c = ?", .positional(["x", nil])).0,
            "select a from t where b = $1 and c = $2")
        let (sql, values) = try render(
            "update t set a = :new where a = $old and b = :new", .named(["new": "n", "old": "o"]))
        XCTAssertEqual(sql, "update t set a = $1 where a = $2 and b = $3")
        XCTAssertEqual(values, ["n", "o", "n"])
    }

    func testQuotedTextCommentsAndCastsAreNotPlaceholders() throws {
        let sql = """
            select '?', 'it''s :x', "col?", `b?`, x::text, $1 -- what? :y
            /* :z ? */ from t where a = ?
            """
        let statement = SQLStatement(sql)
        XCTAssertEqual(statement.placeholderCount, 1)
        let (rendered, values) = try render(sql, .positional(["v"]))
        XCTAssertTrue(rendered.hasSuffix("where a = $1"), rendered)
        XCTAssertTrue(rendered.contains("'it''s :x'") && rendered.contains("x::text"), rendered)
        XCTAssertEqual(values, ["v"])
        // A backslash-escaped quote (MySQL) does not end the string.
        XCTAssertEqual(SQLStatement(#"select 'a\'?' , ?"#).placeholderCount, 1)
    }

    func testMissingValuesAreErrors() {
        XCTAssertThrowsError(try render("select ? , ?", .positional(["one"]))) { error in
            XCTAssertTrue("\(error)".contains("placeholder 2"), "\(error)")
        }
        XCTAssertThrowsError(try render("select :a", .named(["b": "x"]))) { error in
            XCTAssertTrue("\(error)".contains(":a"), "\(error)")
        }
        XCTAssertThrowsError(try render("select ?", .named(["a": "x"])))
        // A named NULL is a value.
        XCTAssertEqual(try render("select :a", .named(["a": nil])).1, [nil])
    }
}

final class QueryCacheTests: XCTestCase {
    func testKeysDoNotCollide() {
        let statement = SQLStatement("select ?, ?")
        let keys = [
            QueryCache.key(statement, .positional(["a\u{0}vb", nil])),
            QueryCache.key(statement, .positional(["a", "b"])),
            QueryCache.key(statement, .positional(["a", nil])),
            QueryCache.key(statement, .positional(["a"])),
            QueryCache.key(statement, .named(["a": "b"])),
            QueryCache.key(SQLStatement("select ?"), .positional(["a", "b"]))
        ]
        XCTAssertEqual(Set(keys).count, keys.count)
    }

    func testExpiryAndTheOctetBound() {
        var cache = QueryCache(capacity: 10, lifetime: 60)
        let result = QueryResult(columns: ["a"], rows: [["1"]])
        cache.store(result, for: "k", now: 100)
        XCTAssertEqual(cache.result(for: "k", now: 159), result)
        XCTAssertNil(cache.result(for: "k", now: 161), "expired")
        let huge = QueryResult(
            columns: ["a"], rows: [[String(repeating: "x", count: DatasourceLimits.maxCacheOctets / 8)]])
        cache.store(huge, for: "big", now: 100)
        XCTAssertNil(cache.result(for: "big", now: 100), "a result over a sixteenth of the bound is not kept")
    }
}
