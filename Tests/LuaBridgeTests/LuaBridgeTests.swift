import XCTest

@testable import LuaBridge

final class LuaBridgeTests: XCTestCase {
    func testRunReturnsValues() throws {
        let lua = LuaState()
        XCTAssertEqual(
            try lua.run("return 1 + 2, 'x' .. 'y', true, nil, {}", chunkName: "t"),
            [.number(3), .string("xy"), .boolean(true), .nil, .other("table")])
    }

    func testSyntaxErrorNamesChunkAndLine() {
        let lua = LuaState()
        XCTAssertThrowsError(try lua.run("local a = 1\nlocal b = \nreturn", chunkName: "policy.lua")) { error in
            let error = error as! LuaError
            XCTAssertEqual(error.kind, .syntax)
            XCTAssertTrue(error.message.hasPrefix("policy.lua:3:"), error.message)
        }
    }

    func testRuntimeErrorCarriesATraceback() {
        let lua = LuaState()
        XCTAssertThrowsError(try lua.run("local function f()\n  error('boom')\nend\nf()", chunkName: "policy.lua")) {
            error in
            let message = (error as! LuaError).message
            XCTAssertTrue(message.hasPrefix("policy.lua:2: boom"), message)
            XCTAssertTrue(message.contains("stack traceback:"), message)
            XCTAssertTrue(message.contains("policy.lua:4"), message)
        }
    }

    func testSwiftFunctionsGetArgumentsAndReturnValues() throws {
        let lua = LuaState()
        lua.setField(table: "msys", "join") { arguments in
            .values([
                .string((1...arguments.count).map { arguments.string($0) ?? "?" }.joined(separator: "+")),
                .number(Double(arguments.count))
            ])
        }
        XCTAssertEqual(try lua.run("return msys.join('a', 2, 'c')", chunkName: "t"), [.string("a+2+c"), .number(3)])
    }

    /// An error raised on behalf of Swift must not unwind through the Swift frame: its defers run.
    func testErrorsFromSwiftRaiseAfterTheSwiftFrameReturned() throws {
        let lua = LuaState()
        var deferRan = 0
        lua.setGlobal("fail") { arguments in
            defer { deferRan += 1 }
            return .error("refused: \(arguments.string(1) ?? "")")
        }
        XCTAssertEqual(
            try lua.run("local ok, message = pcall(fail, 'x')\nreturn ok, message", chunkName: "t"),
            [.boolean(false), .string("refused: x")])
        XCTAssertThrowsError(try lua.run("fail('y')", chunkName: "t")) { error in
            XCTAssertTrue((error as! LuaError).message.hasPrefix("refused: y"))
        }
        XCTAssertEqual(deferRan, 2)
    }

    func testSandbox() throws {
        let lua = LuaState()
        XCTAssertEqual(
            try lua.run(
                """
                return ffi, newproxy, os.execute, io.popen, debug.sethook, debug.setmetatable, debug.getmetatable,
                       (pcall(require, 'ffi'))
                """, chunkName: "t"), Array(repeating: .nil, count: 7) + [.boolean(false)])
        XCTAssertEqual(
            try lua.run("return type(string.format), type(os.time), type(bit.band)", chunkName: "t"),
            [.string("function"), .string("function"), .string("function")])
    }

    func testScriptsCannotLoadBytecodeSharedObjectsOrExit() throws {
        let lua = LuaState()
        let results = try lua.run(
            """
            local bytecode = string.dump(function() return 1 end)
            local f1, e1 = load(bytecode, "x")
            local f2, e2 = loadstring(bytecode)
            return f1, e1, f2, e2, package.loadlib, os.exit, load("return 2 + 3")()
            """, chunkName: "escape.lua")
        XCTAssertEqual(results[0], .nil)
        XCTAssertTrue(results[1].description.contains("wrong mode"), "\(results[1])")
        XCTAssertEqual(results[2], .nil)
        XCTAssertTrue(results[3].description.contains("wrong mode"), "\(results[3])")
        XCTAssertEqual(Array(results[4...]), [.nil, .nil, .number(5)])
    }

    func testPrecompiledChunksAreRefused() throws {
        let lua = LuaState()
        guard case .string(let bytecode) = try lua.run("return string.dump(function() return 1 end)", chunkName: "t")[0]
        else {
            return XCTFail()
        }
        XCTAssertThrowsError(try lua.run(bytecode, chunkName: "evil")) { error in
            XCTAssertTrue((error as! LuaError).message.contains("precompiled"))
        }
    }

    func testWatchdogStopsARunawayScript() throws {
        let lua = LuaState()
        lua.setWatchdog(instructions: 5_000_000)
        XCTAssertThrowsError(try lua.run("while true do end", chunkName: "loop.lua")) { error in
            XCTAssertTrue((error as! LuaError).message.contains("watchdog: script ran too long"), "\(error)")
        }
        lua.setWatchdog(instructions: 0)
        XCTAssertEqual(
            try lua.run("local n = 0 for i = 1, 1000 do n = n + i end return n", chunkName: "t"), [.number(500500)])
    }

    func testCoroutineSuspendedBySwiftIsResumedWithTheAnswer() throws {
        let lua = LuaState()
        lua.setField(table: "msys", "dnsLookup") { arguments in
            .yield([.string("lookup"), .string(arguments.string(1) ?? "")])
        }
        try lua.run(
            """
            function callout(name)
              local address = msys.dnsLookup(name)
              return "answer for " .. name .. ": " .. address
            end
            """, chunkName: "t")
        let coroutine = try XCTUnwrap(LuaCoroutine(state: lua, global: "callout"))
        guard case .yielded(let request) = coroutine.resume([.string("example.com")]) else { return XCTFail() }
        XCTAssertEqual(request, [.string("lookup"), .string("example.com")])
        guard case .finished(let result) = coroutine.resume([.string("192.0.2.1")]) else { return XCTFail() }
        XCTAssertEqual(result, [.string("answer for example.com: 192.0.2.1")])
        XCTAssertTrue(coroutine.isFinished)
        XCTAssertNil(LuaCoroutine(state: lua, global: "missing"))
    }

    func testCoroutineErrorsAreReported() throws {
        let lua = LuaState()
        try lua.run("function bad() local t = nil; return t.x end", chunkName: "script.lua")
        let coroutine = try XCTUnwrap(LuaCoroutine(state: lua, global: "bad"))
        guard case .failed(let error) = coroutine.resume() else { return XCTFail() }
        XCTAssertTrue(error.message.hasPrefix("script.lua:1: attempt to index local 't'"), error.message)
    }
}
