import LuaBridge
import XCTest

@testable import Scriptlet

/// msys.runInPool's copying of functions and values between Lua states (the pools themselves
/// are tested end to end).
final class ThreadPoolMarshallingTests: XCTestCase {
    func testAFunctionWithUpvaluesRunsInAnotherStateAndItsResultsComeBack() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-pool-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/mod.lua"
        try """
        local m = {}
        function m:validate_ehlo() return 0 end
        msys.registerModule("m", m)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let session = try PolicyState(scripts: [ScriptSource(name: "mod", path: path)])
        let pool = try PolicyState(scripts: [ScriptSource(name: "mod", path: path)])
        let payload = try session.lua.runTrusted(
            """
            local settings = { factor = 6, words = { "a", "b" }, nested = {} }
            settings.nested.back = settings
            local function scale(x) return x * settings.factor end
            local job = { fn = function()
              return scale(7), table.concat(settings.words, "+"), settings.nested.back == settings,
                                                  msys.core.VALIDATE_DONE, 1/0 end,
                          args = { n = 0 } }
            return __impulse.marshal(job)
            """, chunkName: "t")[0].octets!
        let results = pool.runPoolJob(payload)
        try session.lua.runTrusted(
            """
            function __test_unmarshal(p)
              local r = __impulse.unmarshal(p)
              return r.n, r[1], r[2], r[3], r[4], r[5], r[6]
            end
            """, chunkName: "t2")
        let values = try session.lua.callGlobal("__test_unmarshal", [.bytes(results)])
        XCTAssertEqual(
            values,
            [.number(6), .boolean(true), .number(42), .string("a+b"), .boolean(true), .number(1), .number(.infinity)])
    }
}
