import XCTest

@testable import TransmissionFormat

final class JSONParserTests: XCTestCase {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func failure(_ text: String) -> JSONParser.SyntaxError? {
        do {
            _ = try JSONParser.parse(Array(text.utf8))
            return nil
        } catch { return error }
    }

    func testValues() throws {
        let value = try parse(#" {"a": [1, -2.5e2, true, false, null], "b": "x\"\u00e9\ud83d\ude00\n", "c": {}} "#)
        XCTAssertEqual(value["a"], .array([.number(1), .number(-250), .bool(true), .bool(false), .null]))
        XCTAssertEqual(value["b"], .string("x\"é😀\n"))
        XCTAssertEqual(value["c"], .object([]))
        XCTAssertEqual(try parse(value.serialized), value)
    }

    func testErrorsSayWhere() {
        XCTAssertEqual(failure("{\n  \"a\": tru\n}")?.line, 2)
        XCTAssertEqual(failure("{\n  \"a\": tru\n}")?.column, 8)
        XCTAssertEqual(failure("[1,2,]")?.column, 6)
        XCTAssertEqual(failure("{\"a\":1")?.reason, "expected ',' or '}', found the end of the input")
        XCTAssertEqual(failure("\"é\u{1}\"")?.column, 3) // columns count characters
        XCTAssertNotNil(failure("01"))
        XCTAssertNotNil(failure("1."))
        XCTAssertNotNil(failure("\"\\ud800\""))
        XCTAssertNotNil(failure("\"\\q\""))
        XCTAssertNotNil(failure("{} {}"))
        XCTAssertEqual(failure("[1e999]")?.reason, "the number is out of range")
        XCTAssertNotNil(failure(""))
        XCTAssertEqual(failure("\"abc")?.column, 1)
    }

    func testNestingIsBounded() {
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: 65)
        XCTAssertEqual(failure(deep)?.reason, "nested deeper than \(JSONParser.maxDepth) levels")
        let fine =
            String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        XCTAssertNil(failure(fine))
    }

    func testInvalidUTF8IsRefused() {
        XCTAssertEqual(
            (try? JSONParser.parse([0x22, 0xC3, 0x28, 0x22])).map { _ in "parsed" }, nil)
    }
}
