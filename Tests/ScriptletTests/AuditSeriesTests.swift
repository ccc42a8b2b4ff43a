import ImpulseConfig
import LuaBridge
import XCTest

@testable import Scriptlet

/// msys.audit_series: rolling windows, address blocks, the two address families, string keys,
/// the bound on keys, and the Lua API over the process's shared series.
final class AuditSeriesTests: XCTestCase {
    func testWindowsRollAndSum() {
        var series = AuditSeries(kind: .string, interval: 60, windows: 3)
        series.add("k", address: nil, count: 2, now: 600) // window 10
        series.add("k", address: nil, count: 5, now: 659) // still window 10
        series.add("k", address: nil, count: 1, now: 660) // window 11
        XCTAssertEqual(series.count(key: "k", block: nil, start: 0, end: 0, now: 670), 1)
        XCTAssertEqual(series.count(key: "k", block: nil, start: 1, end: 1, now: 670), 7)
        XCTAssertEqual(series.count(key: "k", block: nil, start: 0, end: 1, now: 670), 8)
        XCTAssertEqual(series.count(key: "k", block: nil, start: 2, end: 0, now: 670), 8, "either order")
        // Three windows later the old counts have rolled out.
        XCTAssertEqual(series.count(key: "k", block: nil, start: 0, end: 2, now: 60 * 14), 0)
        series.add("k", address: nil, count: -3, now: 60 * 14)
        XCTAssertEqual(series.count(key: "k", block: nil, start: 0, end: 0, now: 60 * 14), -3)
        series.remove("k")
        XCTAssertEqual(series.count(key: "k", block: nil, start: 0, end: 2, now: 60 * 14), 0)
    }

    func testAddressBlocksAndTheBoundOnKeys() {
        var series = AuditSeries(kind: .cidr, interval: 60, windows: 5)
        for (text, count) in [("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.1.1", 4), ("192.0.2.1", 8)] {
            series.add(text, address: IPAddress(text), count: count, now: 100)
        }
        XCTAssertEqual(series.count(key: nil, block: CIDRBlock("10.0.0.0/24"), start: 0, end: 0, now: 100), 3)
        XCTAssertEqual(series.count(key: nil, block: CIDRBlock("10.0.0.0/8"), start: 0, end: 0, now: 100), 7)
        XCTAssertEqual(series.count(key: "192.0.2.1", block: nil, start: 0, end: 0, now: 100), 8)
        for index in 0..<(PolicyLimits.maxAuditSeriesKeys + 1) {
            series.add("k\(index)", address: nil, count: 1, now: 200)
        }
        XCTAssertLessThanOrEqual(series.items.count, PolicyLimits.maxAuditSeriesKeys)
        XCTAssertNotNil(series.items["k\(PolicyLimits.maxAuditSeriesKeys)"], "the newest key stays")
    }

    func testTheLuaAPISharedBetweenStates() throws {
        let directory = NSTemporaryDirectory() + "audit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "-- nothing".write(toFile: directory + "/empty.lua", atomically: true, encoding: .utf8)
        let shared = SharedPolicyData()
        let first = try PolicyState(
            scripts: [ScriptSource(name: "empty", path: directory + "/empty.lua")], shared: shared)
        let second = try PolicyState(
            scripts: [ScriptSource(name: "empty", path: directory + "/empty.lua")], shared: shared)
        _ = try first.lua.run(
            """
            require("msys.audit_series")
            assert(msys.audit_series.define("rejects", "string", 60, 10))
            assert(msys.audit_series.define("clients", "cidr", 60, 10))
            assert(msys.audit_series.define("clients6", "cidr_ipv6", 60, 10))
            msys.audit_series.add("rejects", { key = "example.test" })
            msys.audit_series.add("rejects", { key = "example.test", count = 4 })
            msys.audit_series.add("rejects", "other.test")
            msys.audit_series.add("clients", { key = "192.0.2.7", count = 3 })
            msys.audit_series.add("clients", "192.0.2.8")
            -- An IPv6 client is not counted in an IPv4 series.
            assert(msys.audit_series.add("clients", "2001:db8::1") == false)
            msys.audit_series.add("clients6", "2001:db8::1")
            """, chunkName: "test.lua")
        let results = try second.lua.run(
            """
            local s = msys.audit_series
            local ok, err = pcall(s.add, "rejects")
            local bad_type = pcall(s.define, "rejects", "cidr", 60, 10)
            local undefined = pcall(s.count, "nope", "x")
            return s.count("rejects", "example.test"), s.count("rejects", { key = "other.test", startv = 0, endv = 9 }),
              s.count("clients", { key = "192.0.2.0/24" }), s.count("clients", "192.0.2.7"),
              s.count("clients6", "2001:db8::/32"), ok, err, bad_type, undefined,
              s.remove_item("rejects", "example.test") and s.count("rejects", "example.test")
            """, chunkName: "test.lua")
        XCTAssertEqual(
            Array(results.prefix(6)), [.number(5), .number(1), .number(4), .number(3), .number(1), .boolean(false)])
        XCTAssertTrue(results[6].description.contains("a string series needs a key"), results[6].description)
        XCTAssertEqual(Array(results.suffix(3)), [.boolean(false), .boolean(false), .number(0)])
    }
}
