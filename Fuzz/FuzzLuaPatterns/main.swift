import CLuaJIT
import Foundation
import FuzzSupport
import LuaShim

/// libFuzzer target: Impulse's bounded string.find/match/gmatch/gsub against LuaJIT's own, on one
/// pattern and one subject per input (`function byte, pattern, 0xFF, subject`). Any difference
/// in results or error messages is a crash. Inputs with more than three quantifiers are skipped:
/// LuaJIT's own matcher is exponential in them, which is the reason Impulse has its own.
/// The call-and-describe helper the differential unit test uses (read from the repository: the
/// fuzzer runs from a checkout).
let caller = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Tests/LuaBridgeTests/Lua/pattern_call.lua").standardized.path
let comparison = """
    local call = ...
    local original = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }
    local calls = {
      { "find" }, { "find", -3 }, { "match" }, { "gmatch" }, { "gsub", nil, nil, "<%0%1>" },
      { "gsub", nil, nil, function(a, b) return b and a .. b end },
    }
    return original, function(impulse, which, s, p)
      local c = calls[which + 1]
      local expected = call(original, c[1], s, p, c[2], c[3], c[4])
      local got = call(impulse, c[1], s, p, c[2], c[3], c[4])
      if expected ~= got then return string.format("%q in %q: LuaJIT %s, Impulse %s", p, s, expected, got) end
    end
    """

let state: OpaquePointer = {
    let state = luaL_newstate()!
    luaL_openlibs(state)
    luaJIT_setmode(state, 0, Int32(LUAJIT_MODE_ENGINE) | LUAJIT_MODE_OFF)
    precondition(luaL_loadfile(state, caller) == 0 && lua_pcall(state, 0, 1, 0) == 0, "cannot load \(caller)")
    precondition(luaL_loadbuffer(state, comparison, comparison.utf8.count, "=compare") == 0)
    lua_insert(state, -2)
    precondition(lua_pcall(state, 1, 2, 0) == 0)
    lua_setfield(state, LUA_GLOBALSINDEX, "compare")
    lua_setfield(state, LUA_GLOBALSINDEX, "original")
    lua_createtable(state, 0, 4)
    impulse_lua_open_bounded_library(state)
    for name in ["find", "match", "gmatch", "gsub"] {
        lua_getfield(state, LUA_GLOBALSINDEX, "string")
        lua_getfield(state, -1, name)
        lua_setfield(state, -3, name)
        impulse_lua_pop(state, 1)
    }
    lua_setfield(state, LUA_GLOBALSINDEX, "impulse")
    return state
}()

runFuzzer { data, size in
    let input = fuzzInput(data, size)
    guard let which = input.first else { return 0 }
    let rest = input.dropFirst()
    let cut = rest.firstIndex(of: 0xFF) ?? rest.endIndex
    let pattern = Array(rest[..<cut].prefix(32))
    let subject = Array(rest[cut...].dropFirst().prefix(64))
    guard
        pattern.filter({ [UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "?")].contains($0) })
            .count <= 3
    else {
        return 0
    }
    lua_getfield(state, LUA_GLOBALSINDEX, "compare")
    lua_getfield(state, LUA_GLOBALSINDEX, "impulse")
    lua_pushinteger(state, Int(which % 6))
    subject.withUnsafeBufferPointer {
        lua_pushlstring(state, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
    }
    pattern.withUnsafeBufferPointer {
        lua_pushlstring(state, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
    }
    precondition(lua_pcall(state, 4, 1, 0) == 0, String(cString: lua_tolstring(state, -1, nil)))
    if impulse_lua_isnil(state, -1) == 0 {
        fatalError("patterns differ: " + String(cString: lua_tolstring(state, -1, nil)))
    }
    impulse_lua_pop(state, 1)
    lua_gc(state, LUA_GCSTEP, 0)
    return 0
}
