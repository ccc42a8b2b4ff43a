import Foundation
import ImpulseConfig
import NIOPosix
import XCTest

@testable import Datasource

/// A datasource on a real SQLite file: results, NULLs, limits, caching and errors.
final class SQLiteDatasourceTests: XCTestCase {
    private var path: String!

    override func setUp() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID().uuidString).db").path
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    private func datasource(_ configure: (inout DatasourceDefinition) -> Void = { _ in }) -> Datasource {
        let location = SourceLocation(file: "test.conf", line: 1, column: 1)
        var definition = DatasourceDefinition(name: "t", location: location)
        definition.uris = [try! DatasourceDefinition.URI.parse("sqlite:\(path!)", location: location).get()]
        configure(&definition)
        return Datasource(definition, threadCount: 2)
    }

    private func run(
        _ source: Datasource, _ sql: String, _ parameters: SQLStatement.Parameters = .none,
        _ operation: DatasourceRequest.Operation = .query, noCache: Bool = false
    ) -> Result<QueryResult, DatasourceError> {
        source.runBlocking(
            DatasourceRequest(
                operation: operation, statement: SQLStatement(sql), parameters: parameters, noCache: noCache))
    }

    func testRowsNullsAndChanges() throws {
        let source = datasource()
        XCTAssertEqual(try run(source, "create table t (a text, b integer)", .none, .execute).get().affectedRows, 0)
        XCTAssertEqual(
            try run(source, "insert into t values (?, ?), (?, ?)", .positional(["x", "1", "y", nil]), .execute).get()
                .affectedRows, 2)
        let result = try run(source, "select a, b from t order by a").get()
        XCTAssertEqual(result.columns, ["a", "b"])
        XCTAssertEqual(result.rows, [["x", "1"], ["y", nil]])
        XCTAssertEqual(try run(source, "select a from t order by a", .none, .fetchRow).get().rows, [["x"]])
        // Values keep their octets (8-bit text, quotes: parameters are never spliced into SQL).
        _ = try run(source, "insert into t values (:v, 3)", .named(["v": "caf\u{e9} 'quoted'; --"]), .execute).get()
        XCTAssertEqual(try run(source, "select a from t where b = 3").get().rows, [["caf\u{e9} 'quoted'; --"]])
    }

    func testMaxRowsAndStatementErrors() throws {
        let source = datasource { $0.maxRows = 3 }
        _ = try run(source, "create table n (i integer)", .none, .execute).get()
        for i in 0..<10 { _ = try run(source, "insert into n values (?)", .positional(["\(i)"]), .execute).get() }
        XCTAssertEqual(try run(source, "select i from n", .none, .query, noCache: true).get().rows.count, 3)
        guard case .failure(let error) = run(source, "selec nonsense") else { return XCTFail("no error") }
        XCTAssertEqual(error.kind, .statement)
        XCTAssertTrue(error.message.hasPrefix("sqlite: "), error.message)
        guard case .failure(let twoStatements) = run(source, "select 1; select 2") else { return XCTFail("no error") }
        XCTAssertTrue(twoStatements.message.contains("one statement"), twoStatements.message)
    }

    func testCachingAndFlush() throws {
        let source = datasource { $0.cacheSize = 2 }
        _ = try run(source, "create table c (v text)", .none, .execute).get()
        _ = try run(source, "insert into c values ('one')", .none, .execute).get()
        XCTAssertEqual(try run(source, "select v from c").get().rows, [["one"]])
        _ = try run(source, "update c set v = 'two'", .none, .execute).get()
        XCTAssertEqual(try run(source, "select v from c").get().rows, [["one"]], "cached")
        XCTAssertEqual(try run(source, "select v from c", noCache: true).get().rows, [["two"]], "nocache")
        XCTAssertEqual(source.statistics.cacheHits, 1)
        source.flush()
        XCTAssertEqual(try run(source, "select v from c").get().rows, [["two"]])
        // At most cache_size results: the oldest leaves first.
        _ = try run(source, "select 1").get()
        _ = try run(source, "select 2").get()
        XCTAssertEqual(source.statistics.cachedResults, 2)
    }

    func testARunawayQueryIsInterrupted() throws {
        let source = datasource { $0.noCache = true }
        let started = Date()
        let result = run(
            source,
            "with recursive r(i) as (select 1 union all select i + 1 from r) select count(*) from r")
        guard case .failure(let error) = result else { return XCTFail("the query ended") }
        XCTAssertTrue(error.message.contains("longer than"), error.message)
        XCTAssertLessThan(Date().timeIntervalSince(started), Double(DatasourceLimits.queryTimeout) + 5)
    }

    func testURIsAndConfiguration() {
        let location = SourceLocation(file: "/etc/impulse/ecelerity.conf", line: 3, column: 9)
        let mysql = try? DatasourceDefinition.URI.parse(
            "mysql:host=db.example;dbname=ectest;user=ectest;password=secret", location: location
        ).get()
        XCTAssertEqual(mysql?.driver, .mysql)
        XCTAssertEqual(mysql?.parameters["dbname"], "ectest")
        XCTAssertEqual(mysql?.redacted, "mysql:dbname=ectest;host=db.example;password=…;user=ectest")
        let pg = try? DatasourceDefinition.URI.parse("pgsql:host=a port=5433 dbname=b", location: location).get()
        XCTAssertEqual(pg?.parameters["port"], "5433")
        guard case .failure(let error) = DatasourceDefinition.URI.parse("odbc:dsn=x", location: location) else {
            return XCTFail("odbc accepted")
        }
        XCTAssertTrue("\(error)".contains("/etc/impulse/ecelerity.conf:3:9"), "\(error)")
    }
}
