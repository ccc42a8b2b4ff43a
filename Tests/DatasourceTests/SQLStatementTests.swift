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
