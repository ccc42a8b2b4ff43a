import Foundation
import LuaBridge
import XCTest

@testable import Scriptlet

/// The contract between Swift and Impulse's Lua (ScriptletABI): every shared name is declared
/// once and used on both sides; what Lua hands back decodes into typed values.
final class ScriptletABITests: XCTestCase {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources").standardized

    private func names(in file: URL) throws -> Set<String> {
        let text = try String(contentsOf: file, encoding: .utf8)
        let expression = try NSRegularExpression(pattern: "__impulse_[a-z_]+")
        return Set(
            expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                String(text[Range($0.range, in: text)!])
            })
    }

    private func files(_ folder: String, suffix: String) throws -> [URL] {
        let directory = Self.sources.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(suffix) }
            .sorted()
            .map { directory.appendingPathComponent($0) }
    }

    func testEverySharedNameIsDeclaredOnceAndUsedByTheLuaSide() throws {
        let declared = ScriptletABI.allNames
        XCTAssertEqual(Set(declared).count, declared.count, "a name declared twice")
        let luaFiles = try files("Scriptlet/Lua", suffix: ".lua")
        XCTAssertEqual(luaFiles.count, TrustedLuaChunk.allCases.count)
        var usedByLua = Set<String>()
        for file in luaFiles { usedByLua.formUnion(try names(in: file)) }
        // Swift-only: the marker Swift's own suspend function yields and reads back.
        let swiftOnly: Set<String> = [ScriptletABI.effectMarker]
        XCTAssertEqual(usedByLua.subtracting(declared), [], "used in Lua, not declared in ScriptletABI")
        XCTAssertEqual(Set(declared).subtracting(usedByLua).subtracting(swiftOnly), [], "declared, never used in Lua")
        // The C layer sets only the names ShimFunction declares.
        let shim = try names(in: Self.sources.appendingPathComponent("LuaShim/LuaShim.c"))
        XCTAssertEqual(shim, Set(ScriptletABI.ShimFunction.allCases.map(\.rawValue)))
        // Swift names them through ScriptletABI only: no literal elsewhere.
        for file in try files("Scriptlet", suffix: ".swift") where file.lastPathComponent != "ScriptletABI.swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            XCTAssertFalse(text.contains("\"__impulse_"), "\(file.lastPathComponent) spells a shared name itself")
        }
    }

    /// docs/lua/abi.md names every shared name.
    func testTheContractPageListsEveryName() throws {
        let page = try String(
            contentsOf: Self.sources.appendingPathComponent("../docs/lua/abi.md").standardized, encoding: .utf8)
        for name in ScriptletABI.allNames { XCTAssertTrue(page.contains("`\(name)`"), name) }
    }

    func testACalloutReportDecodes() {
        func report(_ values: [LuaValue]) -> CalloutReport { CalloutReport(values[...], callout: "validate_rcptto") }
        XCTAssertEqual(report([.string("ok")]).outcome, .proceed)
        XCTAssertEqual(
            report([.string("ok"), .number(550), .string("5.1.1 no")]).outcome, .reply(code: 550, text: "5.1.1 no"))
        XCTAssertEqual(
            report([.string("ok"), .number(421), .string("bye"), .boolean(true)]).outcome,
            .disconnect(code: 421, text: "bye"))
        XCTAssertEqual(report([.string("ok"), .number(99)]).outcome, .proceed, "not a reply code")
        let changed = report([.string("ok"), .nil, .nil, .nil, .nil, .boolean(true), .boolean(true)])
        XCTAssertTrue(changed.recipientsChanged && changed.changesPending)
        XCTAssertEqual(
            report([.string("error"), .string("mod"), .string("mod.lua"), .string("boom")]).outcome,
            .failed(ScriptletFailure(module: "mod", script: "mod.lua", callout: "validate_rcptto", message: "boom")))
    }

    /// Each waiting msys function reaches Swift as its typed effect; bad arguments are Lua errors.
    func testWaitingFunctionsSuspendWithTypedEffects() throws {
        let policy = try PolicyState(scripts: [])
        try policy.lua.runTrusted(
            """
            function probe(kind, ...)
              return coroutine.wrap(function(...) return __impulse_suspend(kind, ...) end)(...)
            end
            """, chunkName: "abi-probe")
        func effect(_ arguments: [LuaValue]) -> String {
            (try? policy.lua.callGlobal("probe", arguments)).map { _ in policy.pendingEffect.map { "\($0)" } ?? "none" }
                ?? "error"
        }
        XCTAssertEqual(effect([.string("sleep"), .number(1e9)]), "sleep(seconds: 300.0)")
        XCTAssertEqual(
            effect([.string("dns"), .string("example.test"), .string("MX")]),
            #"dnsLookup(name: "example.test", type: "MX")"#)
        XCTAssertEqual(effect([.string("readfile"), .string("/tmp/x")]), #"readFile(path: "/tmp/x")"#)
        XCTAssertEqual(
            effect([.string("inject"), .string("a@b.test"), .string("c@d.test\ne@f.test"), .string("x")]),
            #"inject(mailFrom: "a@b.test", recipients: ["c@d.test", "e@f.test"], content: [120])"#)
        XCTAssertEqual(
            effect([.string("pool"), .string("io"), .string("job")]), #"runInPool(pool: "io", payload: [106, 111, 98])"#
        )
        XCTAssertEqual(effect([.string("dkim_verify"), .string("m")]), "dkimVerify(message: [109])")
        XCTAssertEqual(
            effect([.string("dkim_sign"), .string("m"), .string("selector"), .string("s1")]),
            #"dkimSign(message: [109], options: ["selector": "s1"])"#)
        policy.pendingEffect = nil
        XCTAssertEqual(effect([.string("dkim_sign"), .string("m"), .string("selector")]), "error")
        XCTAssertEqual(effect([.string("dkim_sign"), .string("m"), .string("shell"), .string("rm")]), "error")
        XCTAssertEqual(effect([.string("dkim_verify")]), "error")
        XCTAssertNil(policy.pendingEffect)
        XCTAssertEqual(effect([.string("sleep"), .number(.nan)]), "error")
        XCTAssertEqual(effect([.string("teleport")]), "error")
        XCTAssertNil(policy.pendingEffect)
        XCTAssertEqual(EffectResult.ok([.string("id")]).luaValues, [.string("ok"), .string("id")])
        XCTAssertEqual(EffectResult.failed("no").luaValues, [.string("error"), .string("no")])
    }
}
