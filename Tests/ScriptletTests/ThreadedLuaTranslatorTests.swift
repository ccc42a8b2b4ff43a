import LuaBridge
import XCTest

@testable import Scriptlet

final class ThreadedLuaTranslatorTests: XCTestCase {
    func run(_ source: String) throws -> [LuaValue] {
        try LuaState().run(try ThreadedLuaTranslator.translate(source), chunkName: "t.lua")
    }

    func testPlainLuaComesOutUnchanged() throws {
        let source = """
            -- a comment with != and | inside
            --[==[ a long
            comment ]==]
            require("msys.core")
            local mod = {}
            local s = [[long "string" with ! and & ]] .. 'it\\'s' .. "tab\\t\\"q\\"" .. [=[x]]y]=]
            function mod:validate_ehlo(str, accept, vctx)
              local t = { a = 1, ["b"] = 2; 3, f = function(...) return select('#', ...) end }
              if not (#t >= 1) and t.a ~= 2 or -t.b < 0 then return msys.core.VALIDATE_CONT end
              for i = 1, 10, 2 do t[i] = i ^ 2 % 3 end
              for k, v in pairs(t) do repeat local x = k until true end
              while false do break end
              local a, b = obj:method "x", obj.field{1}
              return 1e10, 0x1F, .5, 3.25e-2
            end
            msys.registerModule("m", mod)
            """
        XCTAssertEqual(try ThreadedLuaTranslator.translate(source), source)
    }

    func testThreadedLuaOperatorsHaveTheirMeaning() throws {
        XCTAssertEqual(
            try run("return 1 != 2, !true, !(1 == 2), 0660, 010 + 1"),
            [.boolean(true), .boolean(false), .boolean(true), .number(432), .number(9)])
        XCTAssertEqual(
            try run("return 5 | 2, 6 & 3, 5 ^^ 1, 1 << 4, 256 >> 4, 7 \\ 2, -7 \\ 2, ~0"),
            [.number(7), .number(2), .number(4), .number(16), .number(16), .number(3), .number(-3), .number(-1)])
        // & | ^^ bind like +, << >> \\ like *: left to right among equals.
        XCTAssertEqual(
            try run("return 1 + 2 | 4, 2 | 1 * 4, 1 << 2 * 3, 12 & 4 != 0, 3 | 4 .. ''"),
            [.number(7), .number(6), .number(12), .boolean(true), .string("7")])
        XCTAssertEqual(
            try run("local t = { f = 3 }\nreturn t.f | 8, (t.f & 1) == 1, ~t.f & 7"),
            [.number(11), .boolean(true), .number(4)])
    }

    /// Found by the fuzzer: deep nesting overflowed the stack. It is refused as LuaJIT refuses it.
    func testDeepNestingIsAnErrorNotACrash() throws {
        XCTAssertNoThrow(
            try ThreadedLuaTranslator.translate(
                "x = " + String(repeating: "(", count: 100) + "1" + String(repeating: ")", count: 100)))
        for source in [
            "x = " + String(repeating: "(", count: 100_000),
            "x = " + String(repeating: "{", count: 100_000),
            String(repeating: "do ", count: 100_000),
            "x = " + String(repeating: "not ", count: 100_000) + "1"
        ] {
            XCTAssertThrowsError(try ThreadedLuaTranslator.translate(source)) { error in
                XCTAssertTrue("\(error)".contains("too many syntax levels"), "\(error)")
            }
        }
    }

    func testShebangLineBecomesAComment() throws {
        XCTAssertEqual(try ThreadedLuaTranslator.translate("#!/usr/bin/lua\nreturn 1"), "--!/usr/bin/lua\nreturn 1")
        XCTAssertEqual(try run("#!/usr/bin/lua\nreturn 1"), [.number(1)])
    }

    func testStringEscapes() throws {
        XCTAssertEqual(try run("return '\\u00e9\\x41', \"\\\\u0041\""), [.string("éA"), .string("\\u0041")])
    }

    func testLinesStayWhereTheyWere() throws {
        let source = "local flags = 1 |\n  2 |\n  4\nlocal x = nil\nif flags & 2 != 0 then\n  return x.field\nend"
        let translated = try ThreadedLuaTranslator.translate(source)
        XCTAssertEqual(translated.filter { $0 == "\n" }.count, source.filter { $0 == "\n" }.count)
        XCTAssertThrowsError(try LuaState().run(translated, chunkName: "policy.lua")) { error in
            XCTAssertTrue(
                (error as! LuaError).message.hasPrefix("policy.lua:6: attempt to index local 'x'"), "\(error)")
        }
    }

    func testHelpersWorkInsideModuleEnvironments() throws {
        XCTAssertEqual(
            try run("module('m', package.seeall)\nfunction f(a) return a | 1 end\nreturn f(4)"), [.number(5)])
        XCTAssertEqual(try run("setfenv(1, {})\nreturn 6 & 2"), [.number(2)])
    }

    func testSyntaxErrorsNameTheLine() {
        XCTAssertThrowsError(try ThreadedLuaTranslator.translate("local a = 1\nif a then\n  x = \nend")) { error in
            XCTAssertEqual((error as? LuaTranslationError)?.line, 4)
        }
        XCTAssertThrowsError(try ThreadedLuaTranslator.translate("local s = 'open\n")) { error in
            XCTAssertEqual(error as? LuaTranslationError, LuaTranslationError(line: 1, message: "unfinished string"))
        }
        XCTAssertThrowsError(try ThreadedLuaTranslator.translate("x = 1\n--[[ never closed")) { error in
            XCTAssertEqual((error as? LuaTranslationError)?.line, 2)
        }
        XCTAssertThrowsError(try ThreadedLuaTranslator.translate("while true do\n  x = 1\n")) { error in
            XCTAssertTrue("\(error)".contains("'end' expected (to close 'while' at line 1)"), "\(error)")
        }
    }
}
