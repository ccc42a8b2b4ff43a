import LuaBridge
import XCTest

@testable import Scriptlet

final class HookRegistryTests: XCTestCase {
    func testPrototypesBecomeLuaArguments() throws {
        XCTAssertEqual(
            HookRegistry.prototypes["core_log_delivery_v1"]?.parameters,
            [.message, .opaque("domain_record", "dr"), .number("now"), .text("note")])
        XCTAssertEqual(
            HookRegistry.prototypes["core_config_get_message_routing_domain"]?.parameters,
            [.opaque("generic_module_infrastructure", "cs"), .message, .buffer("buff")])
        XCTAssertEqual(HookRegistry.prototypes["core_validate_accept"]?.parameters, [.accept, .validationContext])
        XCTAssertEqual(
            HookRegistry.prototypes["core_log_rejection"]?.parameters,
            [.number("now"), .accept, .validationContext, .number("phase"), .text("format"), .text("args")])
        XCTAssertGreaterThan(HookRegistry.prototypes.count, 120)
        for name in HookRegistry.fired.union(HookRegistry.declaredForDelivery) {
            XCTAssertNotNil(HookRegistry.prototypes[name], name)
        }
    }

    func testFiringALogHookMarshalsByPrototypeAndLoadWarningsNameTheHook() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-hooks-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/logger.lua"
        try """
        local m = {}
        function m:core_log_delivery_v1(msg, dr, now, note)
          seen = table.concat({ msys.type(msg), dr.type, dr.domain, tostring(now), tostring(note),
                                tostring(#note) }, " ")
        end
        function m:core_dns_get_MXs(domain) end
        function m:core_log_rejection_v1() end
        function m:core_made_up_hook() end
        msys.registerModule("logger", m)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let policy = try PolicyState(scripts: [ScriptSource(name: "logger", path: path)])
        XCTAssertFalse(
            policy.warnings.contains { $0.contains("core_log_delivery_v1") || $0.contains("core_log_rejection_v1") },
            "the log hooks are fired: \(policy.warnings)")
        XCTAssertTrue(
            policy.warnings.contains {
                $0.contains("hook point 'core_dns_get_MXs' exists in Momentum but Impulse does not call it")
            })
        XCTAssertTrue(
            policy.warnings.contains {
                $0.contains("logger.lua: module logger: unknown hook point 'core_made_up_hook'")
            })
        policy.openSession(3, connectionContext: [])
        let result = policy.fireHook(
            "core_log_delivery_v1", session: 3,
            [
                .message, .opaque(["type": "domain_record", "domain": "example.com"]), .number(1_700_000_000),
                .text("250 2.0.0 ok")
            ])
        XCTAssertEqual(try result.get(), nil)
        XCTAssertEqual(
            try policy.lua.run("return seen", chunkName: "t"),
            [.string("ec_message domain_record example.com 1700000000 250 2.0.0 ok 12")])
        guard case .failure(let wrong) = policy.fireHook("core_log_delivery_v1", session: 3, [.message]) else {
            return XCTFail()
        }
        XCTAssertTrue(wrong.message.contains("1 arguments for a prototype of 4"))
    }
}

final class CalloutTests: XCTestCase {
    /// The numbers Lua knows callouts by are their 1-based positions; hooks are the
    /// `<scope>_<hook>` ones (`core_…`, and the msg_gen module's `msg_gen_data_spool`).
    func testNumbersFollowTheCaseOrderAndHooksAreScopedNames() {
        for (offset, callout) in Callout.allCases.enumerated() {
            XCTAssertEqual(callout.number, offset + 1, "\(callout)")
            XCTAssertEqual(callout.isHook, !callout.rawValue.hasPrefix("validate_"), "\(callout)")
        }
    }
}
