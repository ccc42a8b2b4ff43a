import CLuaJIT
import Foundation
import LuaShim
import XCTest

@testable import LuaBridge

/// Impulse's string.find/match/gmatch/gsub: the same results and errors as LuaJIT's own, and work
/// that the watchdog stops.
final class BoundedLibraryTests: XCTestCase {
    static let luaDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Lua")

    /// Random patterns (every item kind, malformed ones included) and subjects, each call made with
    /// LuaJIT's function and with Impulse's in one plain state: results and error messages agree.
    func testPatternFunctionsAgreeWithLuaJIT() throws {
        let source = try String(
            contentsOf: Self.luaDirectory.appendingPathComponent("pattern_differential.lua"), encoding: .utf8)
        let caller = try String(
            contentsOf: Self.luaDirectory.appendingPathComponent("pattern_call.lua"), encoding: .utf8)
        guard let state = luaL_newstate() else { return XCTFail("no state") }
        defer { lua_close(state) }
        luaL_openlibs(state)
        // The interpreter, as Impulse runs scripts: LuaJIT's compiled string.find has answered a
        // plain search differently from its interpreter here (a traced loop, now and then).
        luaJIT_setmode(state, 0, Int32(LUAJIT_MODE_ENGINE) | LUAJIT_MODE_OFF)
        // LuaJIT's own functions, kept before Impulse's replace them.
        lua_createtable(state, 0, 4)
        for name in ["find", "match", "gmatch", "gsub"] {
            lua_getfield(state, LUA_GLOBALSINDEX, "string")
            lua_getfield(state, -1, name)
            lua_setfield(state, -3, name)
            impulse_lua_pop(state, 1)
        }
        let original = lua_gettop(state)
        impulse_lua_open_bounded_library(state)
        lua_getfield(state, LUA_GLOBALSINDEX, "string")
        lua_getfield(state, -1, "find")
        lua_getfield(state, original, "find")
        XCTAssertEqual(lua_rawequal(state, -1, -2), 0, "string.find was replaced")
        impulse_lua_pop(state, 3)
        XCTAssertEqual(luaL_loadbuffer(state, caller, caller.utf8.count, "@pattern_call.lua"), 0)
        XCTAssertEqual(lua_pcall(state, 0, 1, 0), 0)
        let call = lua_gettop(state)

        for seed in [1, 2, 3, 4] {
            XCTAssertEqual(luaL_loadbuffer(state, source, source.utf8.count, "@pattern_differential.lua"), 0)
            lua_pushvalue(state, original)
            lua_pushvalue(state, call)
            lua_pushinteger(state, 50_000)
            lua_pushinteger(state, seed)
            guard lua_pcall(state, 4, 2, 0) == 0 else {
                return XCTFail(String(cString: lua_tolstring(state, -1, nil)))
            }
            let cases = lua_tointeger(state, -2)
            if impulse_lua_isnil(state, -1) == 0 {
                XCTFail("case \(cases) (seed \(seed)): \(String(cString: lua_tolstring(state, -1, nil)))")
            }
            XCTAssertEqual(cases, 50_000)
            impulse_lua_pop(state, 2)
        }
    }

    private func expectWatchdog(_ code: String, file: StaticString = #filePath, line: UInt = #line) {
        let lua = LuaState()
        lua.setWatchdog(instructions: 50_000_000)
        let started = Date()
        XCTAssertThrowsError(try lua.run(code, chunkName: "runaway.lua"), file: file, line: line) { error in
            let message = (error as! LuaError).message
            XCTAssertTrue(message.hasPrefix("runaway.lua:"), message, file: file, line: line)
            XCTAssertTrue(message.contains("watchdog: script ran too long"), message, file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, file: file, line: line)
    }

    /// A backtracking pattern over a few thousand octets (about 10^12 steps) is stopped, with the
    /// script's line (a tail call would have no line to name: its frame is gone).
    func testBacktrackingPatternsAreStoppedByTheWatchdog() {
        expectWatchdog("local s = string.rep('a', 3000)\nlocal found = s:find('a*a*a*a*b')")
        expectWatchdog("local s = string.rep('a', 3000)\nreturn (s:gsub('a-a-a-a-b', 'x'))")
        expectWatchdog("local s = string.rep('a', 3000)\nfor x in s:gmatch('a*a*a*b') do end")
        expectWatchdog("local s = string.rep('(', 200000)\nlocal found = s:match('%b()')")
        // Caught with pcall, the next match raises again.
        expectWatchdog(
            """
            local s = string.rep('a', 3000)
            for i = 1, 10 do pcall(string.match, s, 'a*a*a*b') end
            local found = s:match('a*a*a*b')
            """)
    }

    /// A plain search whose needle almost matches everywhere is linear (LuaJIT's took minutes).
    func testPlainSearchIsLinear() throws {
        let lua = LuaState()
        lua.setWatchdog(instructions: 50_000_000)
        let started = Date()
        let result = try lua.run(
            """
            local hay = string.rep('a', 4 * 1024 * 1024)
            local needle = string.rep('a', 2 * 1024 * 1024) .. 'b'
            return hay:find(needle, 1, true), (hay .. 'b'):find(needle, 1, true)
            """, chunkName: "plain.lua")
        XCTAssertEqual(result, [.nil, .number(Double(2 * 1024 * 1024 + 1)), .number(Double(4 * 1024 * 1024 + 1))])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }
}

/// table.sort: LuaJIT's results on ordinary input, O(n log n) comparisons on every input.
final class BoundedSortTests: XCTestCase {
    /// A plain state with LuaJIT's table.sort kept as `original_sort`, and Impulse's as table.sort.
    private func plainState() -> OpaquePointer {
        let state = luaL_newstate()!
        luaL_openlibs(state)
        luaJIT_setmode(state, 0, Int32(LUAJIT_MODE_ENGINE) | LUAJIT_MODE_OFF)
        lua_getfield(state, LUA_GLOBALSINDEX, "table")
        lua_getfield(state, -1, "sort")
        lua_setfield(state, LUA_GLOBALSINDEX, "original_sort")
        impulse_lua_pop(state, 1)
        impulse_lua_open_bounded_library(state)
        return state
    }

    private func run(_ state: OpaquePointer, _ code: String) -> String {
        guard luaL_loadbuffer(state, code, code.utf8.count, "=sort-test") == 0, lua_pcall(state, 0, 1, 0) == 0 else {
            return "error: " + String(cString: lua_tolstring(state, -1, nil))
        }
        defer { impulse_lua_pop(state, 1) }
        return lua_tolstring(state, -1, nil).map { String(cString: $0) } ?? "nil"
    }

    func testSortsAsLuaJITDoes() {
        let state = plainState()
        defer { lua_close(state) }
        XCTAssertEqual(
            run(
                state,
                """
                math.randomseed(7)
                local function same(a, b)
                  if #a ~= #b then return false end
                  for i = 1, #a do if a[i] ~= b[i] then return false end end
                  return true
                end
                for round = 1, 400 do
                  local n = math.random(0, 300)
                  local a, b = {}, {}
                  for i = 1, n do
                    local v = round % 3 == 0 and tostring(math.random(20)) or math.random(round % 2 == 0 and 5 or 1000)
                    a[i], b[i] = v, v
                  end
                  local descending = round % 4 == 1 and function(x, y) return x > y end or nil
                  original_sort(a, descending)
                  table.sort(b, descending)
                  if not same(a, b) then return "differs in round " .. round end
                end
                return "same"
                """), "same")
        let strip = "(select(2, pcall(table.sort, %@)):gsub('^[^:]*:%d+: ', ''))"
        for arguments in ["nil", "{3, 'x', 1}", "{1, 2}, 5", "{1, nil, 3}"] {
            let code = "return " + strip.replacingOccurrences(of: "%@", with: arguments)
            let original = code.replacingOccurrences(of: "pcall(table.sort", with: "pcall(original_sort")
            XCTAssertEqual(run(state, code), run(state, original), arguments)
        }
    }

    /// McIlroy's adversary ("A Killer Adversary for Quicksort", 1999) decides each comparison
    /// as late as it can, driving any quicksort to its worst case. LuaJIT's sort then makes about
    /// n²/4 comparisons; Impulse's stays within a few n·log2(n) (introsort: at most about 4).
    func testEveryInputSortsInNLogNComparisons() {
        let state = plainState()
        defer { lua_close(state) }
        let adversary = """
            local function comparisons(sort, n)
              local gas, solid, candidate, count = n + 1, 0, nil, 0
              local value, items = {}, {}
              for i = 1, n do items[i] = i; value[i] = gas end
              sort(items, function(x, y)
                count = count + 1
                if value[x] == gas and value[y] == gas then
                  if x == candidate then value[x] = solid else value[y] = solid end
                  solid = solid + 1
                end
                if value[x] == gas then candidate = x elseif value[y] == gas then candidate = y end
                return value[x] < value[y]
              end)
              for i = 2, n do assert(value[items[i - 1]] <= value[items[i]], "sorted") end
              return count
            end
            local n = tonumber(...)
            return comparisons(%@, n) / (n * math.log(n) / math.log(2))
            """
        func ratio(_ sort: String, _ n: Int) -> Double {
            let code = "return (function(...) " + adversary.replacingOccurrences(of: "%@", with: sort) + " end)(\(n))"
            return Double(run(state, code)) ?? .nan
        }
        let luajit = ratio("original_sort", 3000)
        XCTAssertGreaterThan(luajit, 30, "the adversary drives LuaJIT's sort quadratic")
        for n in [3000, 30000] {
            XCTAssertLessThan(ratio("table.sort", n), 6, "n = \(n)")
        }
    }

    /// A sort of a big table is charged to the watchdog like the loop it replaces.
    func testSortWorkIsChargedToTheWatchdog() {
        let lua = LuaState()
        lua.setWatchdog(instructions: 20_000_000)
        XCTAssertThrowsError(
            try lua.run(
                """
                local t = {}
                for i = 1, 2000000 do t[i] = (i * 7919) % 1000003 end
                table.sort(t)
                local done = true
                """, chunkName: "sorter.lua")
        ) { error in
            let message = (error as! LuaError).message
            XCTAssertTrue(message.hasPrefix("sorter.lua:3: watchdog: script ran too long"), message)
        }
    }
}
