import ImpulseConfig
import LuaBridge
import XCTest

@testable import Scriptlet

/// The msys library functions that need no SMTP session (the others are tested end to end).
final class LibraryTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-lib-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func state(shared: SharedPolicyData = SharedPolicyData()) throws -> PolicyState {
        let path = directory + "/empty.lua"
        try "-- nothing".write(toFile: path, atomically: true, encoding: .utf8)
        return try PolicyState(scripts: [ScriptSource(name: "empty", path: path)], shared: shared)
    }

    func run(_ policy: PolicyState, _ source: String) throws -> [LuaValue] {
        try policy.lua.run(source, chunkName: "test.lua")
    }

    func testBase64AndQuotedPrintableRoundTrip() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                local b64, qp = require("msys.base64"), require("msys.qp")
                return b64.encode("Man"), b64.encode("Ma"), b64.encode("M"), b64.decode("TWFu"),
                       b64.decode(b64.encode("\\0\\255 binary")) == "\\0\\255 binary",
                       qp.encode("caf\\233 = ok"), qp.decode("caf=E9 =3D ok=\\r\\nsoft"),
                       #qp.encode(string.rep("a", 200)) > 200
                """),
            [
                .string("TWFu"), .string("TWE="), .string("TQ=="), .string("Man"), .boolean(true),
                .string("caf=E9 =3D ok"), .bytes(Array("caf\u{E9} = oksoft".unicodeScalars.map { UInt8($0.value) })),
                .boolean(true)
            ])
    }

    func testDumperShowsNestedTablesSortedAndCycles() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                local t = { b = 2, a = { 1, "x" } }
                t.self = t
                return msys.dumper.Dumper(t), msys.dumper.Dumper("s"), msys.dumper.Dumper(5)
                """),
            [
                .string("{\n  a = {\n    [1] = 1,\n    [2] = \"x\"\n  },\n  b = 2,\n  self = <cycle>\n}"),
                .string("\"s\""), .string("5")
            ])
    }

    func testJSONThroughLuaCJSON() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                local json = require("json")
                local value = json.decode('{"a":[1,2,{"b":"c"}],"n":null}')
                local bad, code, message = json.decode("{oops")
                return value.a[3].b, #value.a, json.encode({ x = "y" }), bad, code, type(message)
                """), [.string("c"), .number(3), .string("{\"x\":\"y\"}"), .nil, .number(1), .string("string")])
    }

    func testIDNThroughLibidn2() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                return msys.idn.to_idn("bücher.example"), msys.idn.to_utf8("xn--bcher-kva.example"),
                       (msys.idn.to_idn("☃\u{0301}x.example")),
                       (msys.idn.to_utf8("xn--zz.example"))
                """), [.string("xn--bcher-kva.example"), .string("bücher.example"), .nil, .nil])
    }

    func testCIDRTablesAreSharedBetweenStatesAndUseTheLongestPrefix() throws {
        let shared = SharedPolicyData()
        let first = try state(shared: shared)
        let second = try state(shared: shared)
        let file = directory + "/list.rbldnsd"
        try """
        # comment
        :127.0.0.2:Listed by default
        10.0.0.0/8
        10.1.0.0/16 :127.0.0.3:ten-one
        192.0.2.7 single
        2001:db8::/32 six
        not-an-address
        """.write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(
            try run(
                first,
                """
                msys.cidr.define("bl", { type = "rbldnsd", file = "\(file)" })
                msys.cidr.define("inline", { type = "inline", entries = { ["127.0.0.0/8"] = "loopback" },
                                             default_value = "other" })
                -- An IPv6 block starts with ':' like rbldnsd's default-value line, and is a block.
                msys.cidr.define("six", { type = "inline", entries = { ["::1/128"] = "loopback" } })
                return true
                """), [.boolean(true)])
        XCTAssertEqual(
            try run(
                second,
                """
                local q = msys.cidr.query
                return q("bl", "10.9.9.9"), q("bl", "10.1.2.3"), q("bl", "192.0.2.7"), q("bl", "2001:db8::1"),
                       q("bl", "8.8.8.8"),
                       q("inline", "127.0.0.1"), q("inline", "8.8.8.8"), pcall(q, "missing", "1.2.3.4")
                """),
            [
                .string("Listed by default"), .string("ten-one"), .string("single"), .string("six"),
                .string("Listed by default"),
                .string("loopback"), .string("other"), .boolean(false),
                .string("msys.cidr.query: no table named 'missing' (define it first)")
            ])
        XCTAssertEqual(
            try run(second, #"return msys.cidr.query("six", "::1"), msys.cidr.query("six", "192.0.2.7")"#),
            [.string("loopback"), .nil])
    }

    func testGaugeCachesAndCountersAreShared() throws {
        let shared = SharedPolicyData()
        let first = try state(shared: shared)
        let second = try state(shared: shared)
        _ = try run(
            first,
            """
            msys.gauge_cache.define("conns", 2, 60)
            msys.gauge_cache.inc("conns", "1.2.3.4")
            msys.gauge_cache.inc("conns", "1.2.3.4")
            msys.counter.open("/site/seen"):add(5)
            """)
        XCTAssertEqual(
            try run(
                second,
                """
                local g = msys.gauge_cache
                local before = g.get("conns", "1.2.3.4")
                g.dec("conns", "1.2.3.4")
                g.inc("conns", "a"); g.inc("conns", "b")  -- a third key: the oldest goes
                local c = msys.counter.open("/site/seen")
                local bad = msys.counter.open("elsewhere")
                return before, g.get("conns", "b"), c:read(), msys.counter.inc(c), bad, pcall(g.inc, "nope", "x")
                """),
            [
                .number(2), .number(1), .number(5), .number(6), .nil, .boolean(false),
                .string("msys.gauge_cache: no cache named 'nope' (define it first)")
            ])
    }

    func testRFC2822AddressParsing() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                local list = [["Doe, Jane" <jane@example.com>, bob@example.org (Bob), ]]
                  .. [[group: a@b.test, c@d.test;, <x@y.test>]]
                local all = msys.parseRFC2822Addresses(list)
                local names = msys.parseRFC2822Addresses(list, "name")
                return table.concat(all, " "), names[1], table.concat(msys.parseRFC2822Addresses(list, "domain"), " ")
                """),
            [
                .string("jane@example.com bob@example.org a@b.test c@d.test x@y.test"), .string("Doe, Jane"),
                .string("example.com example.org b.test d.test y.test")
            ])
    }

    func testStringsConstantsAndTypes() throws {
        let policy = try state()
        XCTAssertEqual(
            try run(
                policy,
                """
                local s = msys.core.string_new("abc")
                s:set("hello")
                return tostring(s), #s, msys.type(s), msys.type({}), type(msys.core.get_now_ts()),
                       msys.core.EC_MSG_ENV_TO ~= msys.core.EC_MSG_ENV_FROM, msys.core.P_ESMTP ~= nil
                """),
            [
                .string("hello"), .number(5), .string("ec_string"), .string("table"), .string("number"), .boolean(true),
                .boolean(true)
            ])
    }
}
