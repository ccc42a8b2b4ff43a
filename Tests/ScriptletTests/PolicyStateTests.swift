import Foundation
import LuaBridge
import NIOCore
import XCTest

@testable import Scriptlet

final class PolicyStateTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-lua-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func state(_ scripts: [(String, String)]) throws -> PolicyState {
        var sources: [ScriptSource] = []
        for (name, text) in scripts {
            let path = directory + "/\(name).lua"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            sources.append(ScriptSource(name: name, path: path))
        }
        return try PolicyState(scripts: sources)
    }

    func testTheSeedExampleRunsAsWritten() throws {
        let policy = try state([
            (
                "ehlo_phase",
                """
                require("msys.core")

                local mod = {};

                function mod:validate_ehlo(str, accept, vctx)
                  seen = msys.expandMacro("%{vctx_conn:ehlo_string}") .. "|" .. tostring(str)
                  return msys.core.VALIDATE_CONT;
                end

                msys.registerModule("ehlo_phase", mod);
                """
            )
        ])
        XCTAssertTrue(policy.implements(.ehlo))
        XCTAssertFalse(policy.implements(.mailFrom))
        policy.openSession(1, connectionContext: [])
        policy.setContext(1, message: false, "ehlo_string", "client.example")
        XCTAssertEqual(policy.run(.ehlo, session: 1, text: "client.example"), .proceed)
        XCTAssertEqual(try policy.lua.run("return seen", chunkName: "t"), [.string("client.example|client.example")])
    }

    /// SPF's macros (RFC 7208 section 7.3, with the examples of section 7.4) from the session's
    /// sender, client address and HELO name, as %{spfv1:…} and bare.
    func testSPFMacrosExpandFromTheSession() throws {
        let policy = try state([
            (
                "macros",
                """
                local mod = {}
                function mod:validate_mailfrom(str, accept, vctx)
                  seen = msys.expandMacro(
                    "%{spfv1:s}|%{spfv1:o}|%{d4}|%{d3}|%{d2}|%{d1}|%{dr}|%{d2r}|%{l}|%{l-}|%{lr}|%{lr-}|%{l1r-}"
                    .. "|%{ir}.%{v}._spf.%{d2}|%{h}|%{S}|%{vctx_conn:ehlo_domain}|%{x}|%{spfv1:i}")
                  return msys.core.VALIDATE_CONT
                end
                function mod:validate_rcptto(str, accept, vctx)
                  seen = msys.expandMacro("%{i}|%{ir}.%{v}|%{s}")
                  return msys.core.VALIDATE_CONT
                end
                msys.registerModule("macros", mod)
                """
            )
        ])
        policy.openSession(1, connectionContext: [("ehlo_domain", "mx.example.com")], peer: ("192.0.2.3", 2525))
        policy.setContext(1, message: true, "mailfrom_address", "strong-bad@email.example.com")
        XCTAssertEqual(policy.run(.mailFrom, session: 1, text: "<strong-bad@email.example.com>"), .proceed)
        XCTAssertEqual(
            try policy.lua.run("return seen", chunkName: "t"),
            [
                .string(
                    "strong-bad@email.example.com|email.example.com|email.example.com|email.example.com|example.com"
                        + "|com|com.example.email|example.email|strong-bad|strong.bad|strong-bad|bad.strong|strong"
                        + "|3.2.0.192.in-addr._spf.example.com|mx.example.com|strong-bad%40email.example.com"
                        + "|mx.example.com|%{x}|192.0.2.3")
            ])
        policy.openSession(2, connectionContext: [("ehlo_domain", "mx.example.org")], peer: ("2001:db8::cb01", 2525))
        policy.setContext(2, message: true, "mailfrom_address", "")
        XCTAssertEqual(policy.run(.rcptTo, session: 2, text: "<x@example.net>"), .proceed)
        XCTAssertEqual(
            try policy.lua.run("return seen", chunkName: "t"),
            [
                .string(
                    "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1"
                        + "|1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6|postmaster@mx.example.org"
                )
            ])
    }

    func testSetCodeRejectsEvenWhenTheCalloutReturnsCont() throws {
        let policy = try state([
            (
                "p",
                """
                local mod = {}
                function mod:validate_mailfrom(str, accept, vctx)
                  if string.find(tostring(str), "spam") then vctx:set_code(550, "5.7.1 go away") end
                  return msys.core.VALIDATE_CONT
                end
                function mod:validate_rcptto(msg, str, accept, vctx)
                  vctx:disconnect("421", "4.7.0 bye")
                  return msys.core.VALIDATE_CONT
                end
                msys.registerModule("p", mod)
                """
            )
        ])
        policy.openSession(7, connectionContext: [])
        XCTAssertEqual(policy.run(.mailFrom, session: 7, text: "MAIL FROM:<a@ok.test>"), .proceed)
        XCTAssertEqual(
            policy.run(.mailFrom, session: 7, text: "MAIL FROM:<a@spam.test>"), .reply(code: 550, text: "5.7.1 go away")
        )
        XCTAssertEqual(
            policy.run(.rcptTo, session: 7, text: "RCPT TO:<b@x.test>"), .disconnect(code: 421, text: "4.7.0 bye"))
    }

    func testModulesRunInRegistrationOrderAndDoneStopsTheChain() throws {
        let policy = try state([
            (
                "first",
                """
                local m = {}\nfunction m:validate_connect(ac, vctx) order = (order or '') .. 'a'; \
                vctx:set_code(451, 'first'); return msys.core.VALIDATE_CONT end\nmsys.registerModule('first', m)
                """
            ),
            (
                "second",
                """
                local m = {}\nfunction m:validate_connect(ac, vctx) order = order .. 'b'; vctx:set_code(452, \
                'second'); return msys.core.VALIDATE_DONE end\nmsys.registerModule('second', m)
                """
            ),
            (
                "third",
                """
                local m = {}\nfunction m:validate_connect(ac, vctx) order = order .. 'c'; return \
                msys.core.VALIDATE_CONT end\nmsys.registerModule('third', m)
                """
            )
        ])
        policy.openSession(1, connectionContext: [])
        XCTAssertEqual(policy.run(.connect, session: 1), .reply(code: 452, text: "second"))
        XCTAssertEqual(try policy.lua.run("return order", chunkName: "t"), [.string("ab")])
    }

    func testSelfIsPerSessionAndReachesValidateDealloc() throws {
        let policy = try state([
            (
                "s",
                """
                local m = {}
                deallocs = {}
                function m:helper() return "helped" end
                function m:validate_connect(ac, vctx) self.count = 1; return 0 end
                function m:validate_ehlo(str, ac, vctx)
                  self.count = self.count + 1; self.h = self:helper(); return 0
                end
                function m:validate_dealloc() deallocs[#deallocs + 1] = tostring(self.count) .. self.h end
                msys.registerModule("s", m)
                local unused = {}
                function unused:validate_mailfrom() return 0 end
                function unused:validate_dealloc() deallocs[#deallocs + 1] = "unused" end
                msys.registerModule("unused", unused)
                """
            )
        ])
        for id in [1, 2] {
            policy.openSession(id, connectionContext: [("can_relay", "true")])
            XCTAssertEqual(policy.run(.connect, session: id), .proceed)
        }
        XCTAssertEqual(policy.run(.ehlo, session: 1, text: "a"), .proceed)
        XCTAssertEqual(policy.run(.ehlo, session: 1, text: "a"), .proceed)
        XCTAssertEqual(policy.run(.ehlo, session: 2, text: "b"), .proceed)
        XCTAssertNil(policy.closeSession(1))
        XCTAssertNil(policy.closeSession(2))
        // validate_dealloc ran only for the module whose code the session invoked, with its self.
        XCTAssertEqual(
            try policy.lua.run("return table.concat(deallocs, ',')", chunkName: "t"), [.string("3helped,2helped")])
        XCTAssertEqual(policy.context(1, message: false, "can_relay"), nil, "the session is gone")
    }

    func testContextsAreStringsAndMessageContextResets() throws {
        let policy = try state([
            (
                "c",
                """
                local m = {}
                function m:validate_mailfrom(str, ac, vctx)
                  vctx:set(msys.core.VCTX_MESS, "n", 42)
                  vctx:set(msys.core.ECMESS_CTX_CONN, "seen", (vctx:get(msys.core.VCTX_CONN, "seen") or "") .. "x")
                  return msys.core.VALIDATE_CONT
                end
                msys.registerModule("c", m)
                """
            )
        ])
        policy.openSession(3, connectionContext: [])
        _ = policy.run(.mailFrom, session: 3, text: "MAIL FROM:<>")
        XCTAssertEqual(policy.context(3, message: true, "n"), "42")
        policy.beginMessage(3)
        XCTAssertNil(policy.context(3, message: true, "n"))
        _ = policy.run(.mailFrom, session: 3, text: "MAIL FROM:<>")
        XCTAssertEqual(policy.context(3, message: false, "seen"), "xx")
    }

    func testErrorsNameModuleScriptAndLine() throws {
        let policy = try state([
            (
                "broken",
                """
                local m = {}
                function m:validate_ehlo(str, ac, vctx)
                  local t = nil
                  return t.field
                end
                function m:validate_mailfrom() return "yes" end
                function m:validate_rcptto() while true do end end
                msys.registerModule("brokenmod", m)
                """
            )
        ])
        policy.instructionBudget = 2_000_000
        policy.openSession(1, connectionContext: [])
        guard case .failed(let failure) = policy.run(.ehlo, session: 1, text: "x") else { return XCTFail() }
        XCTAssertEqual(failure.module, "brokenmod")
        XCTAssertEqual(failure.script, "broken.lua")
        XCTAssertTrue(failure.message.hasPrefix("broken.lua:4: attempt to index local 't'"), failure.message)
        XCTAssertEqual(failure.paniclogLines.first?.hasPrefix("scriptlet: validate_ehlo error: broken.lua:4:"), true)
        guard case .failed(let bad) = policy.run(.mailFrom, session: 1, text: "x") else { return XCTFail() }
        XCTAssertEqual(
            bad.message,
            """
            brokenmod:validate_mailfrom must return one of msys.VALIDATE_CONT msys.VALIDATE_DONE or \
            msys.VALIDATE_AGAIN
            """
        )
        guard case .failed(let runaway) = policy.run(.rcptTo, session: 1, text: "x") else { return XCTFail() }
        XCTAssertTrue(runaway.message.contains("watchdog: script ran too long"), runaway.message)
        XCTAssertEqual(policy.run(.connect, session: 1), .proceed, "the state is still usable")
    }

    func testAScriptThatCatchesTheWatchdogsErrorIsStoppedAnyway() throws {
        let policy = try state([
            (
                "stubborn",
                """
                local m = {}
                function m:validate_data(msg, accept, vctx)
                  while true do pcall(function() while true do end end) end
                end
                function m:validate_ehlo() return 0 end
                msys.registerModule("stubborn", m)
                """
            )
        ])
        policy.instructionBudget = 2_000_000
        policy.openSession(1, connectionContext: [])
        guard case .failed(let failure) = policy.run(.data, session: 1) else { return XCTFail() }
        XCTAssertEqual(failure.module, "stubborn")
        XCTAssertEqual(failure.script, "stubborn.lua")
        XCTAssertTrue(failure.message.contains("watchdog: script ran too long"), failure.message)
        XCTAssertEqual(policy.run(.ehlo, session: 1, text: "x"), .proceed, "the state is still usable")
    }

    func testLoadErrorsAndWarnings() throws {
        XCTAssertThrowsError(try state([("syntax", "local m = {}\nfunction m:validate_ehlo(\n  return 0\nend")])) {
            error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("script \"syntax\""), message)
            XCTAssertTrue(message.contains("syntax.lua:3:"), message)
        }
        XCTAssertThrowsError(try state([("req", "require('msys.nosuch')")])) { error in
            XCTAssertTrue("\(error)".contains("require 'msys.nosuch': not supported by Impulse (req.lua)"), "\(error)")
        }
        let policy = try state([
            (
                "w",
                """
                require("msys.core"); require("msys.extended.message"); require("msys.extended.vctx")
                local a = {}
                function a:validate_connect() return 0 end
                function a:core_config_get_message_routing_domain(scope, msg, buff) return 0 end
                function a:core_no_such_hook() return 0 end
                msys.registerModule("dup", a)
                msys.registerModule("dup", a)
                msys.registerModule("empty", { helper = 1 })
                """
            )
        ])
        XCTAssertEqual(policy.warnings.count, 4, "\(policy.warnings)")
        XCTAssertTrue(
            policy.warnings.contains { $0.contains("unknown hook point 'core_no_such_hook'") && $0.contains("w.lua") })
        XCTAssertTrue(policy.warnings.contains { $0.contains("module name 'dup' is already registered") })
        XCTAssertTrue(
            policy.warnings.contains {
                $0 == "scriptlet: no usable methods found for module empty in registerModule call (w.lua)"
            })
    }

    func testThreadedLuaScriptsLoad() throws {
        let policy = try state([
            (
                "threaded",
                """
                local m = {}
                function m:validate_connect(ac, vctx)
                  if vctx:get(msys.core.VCTX_CONN, "flags") != nil and (tonumber(vctx:get(0, "flags")) & 4) != 0 then
                    vctx:set_code(554, "5.7.1 flagged " .. 0644)
                  end
                  return !false and msys.core.VALIDATE_CONT
                end
                msys.registerModule("threaded", m)
                """
            )
        ])
        policy.openSession(1, connectionContext: [("flags", "6")])
        XCTAssertEqual(policy.run(.connect, session: 1), .reply(code: 554, text: "5.7.1 flagged 420"))
    }

    func testInitMustReturnTrue() throws {
        let good = try state([
            (
                "i",
                """
                local m = {}\nfunction m:init() return true end\nfunction m:validate_connect() return 0 \
                end\nmsys.registerModule('i', m)
                """
            )
        ])
        XCTAssertNil(good.runInit())
        let bad = try state([
            ("j", "local m = {}\nfunction m:init() return false end\nmsys.registerModule('initmod', m)")
        ])
        XCTAssertEqual(bad.runInit()?.module, "initmod")
        XCTAssertEqual(bad.runInit()?.message, "init did not return true")
    }

    func testSleepSuspendsTheCalloutAndResumeContinuesIt() throws {
        let policy = try state([
            (
                "sleepy",
                """
                atLoad = msys.asyncOk()
                local ok, message = pcall(msys.sleep, 1)
                loadSleep = message
                local m = {}
                function m:validate_connect(ac, vctx)
                  vctx:set(0, "before", "1")
                  msys.sleep(0.25)
                  vctx:set_code(421, "4.7.0 woke " .. msys.expandMacro("%{vctx_conn:before}"))
                  return msys.core.VALIDATE_CONT
                end
                msys.registerModule("sleepy", m)
                """
            )
        ])
        XCTAssertEqual(
            try policy.lua.run("return atLoad, loadSleep", chunkName: "t"),
            [
                .boolean(false),
                .string("msys.sleep: cannot suspend here (only in a callout, a timer or a delivery hook)")
            ])
        policy.openSession(1, connectionContext: [])
        policy.openSession(2, connectionContext: [])
        guard case .suspended(let first) = policy.start(.connect, session: 1) else { return XCTFail() }
        XCTAssertEqual(first.effect, .sleep(seconds: 0.25))
        // Another session runs while the first one waits.
        guard case .suspended(let second) = policy.start(.connect, session: 2) else { return XCTFail() }
        guard case .done(let outcome) = policy.resume(first, with: .ok([])) else { return XCTFail() }
        XCTAssertEqual(outcome, .reply(code: 421, text: "4.7.0 woke 1"))
        guard case .done(.reply(421, _)) = policy.resume(second, with: .ok([])) else { return XCTFail() }
    }

    func testSharedThrottlesWaitForTheExecutorsClock() throws {
        let policy = try state([
            (
                "limits",
                """
                msys.shared_throttle.create("per-ip", "2/60")
                local okRate, badRate = pcall(function() msys.shared_throttle.create("x", "ten") end)
                badRateMessage = badRate
                local okName, noName = pcall(function() local over = msys.shared_throttle.check("never-created"); return over end)
                noNameMessage = noName
                local m = {}
                function m:validate_connect(ac, vctx)
                  local ok, wait = msys.shared_throttle.take("per-ip")
                  if not ok then vctx:set_code(421, "4.7.0 wait " .. wait) end
                  return msys.core.VALIDATE_CONT
                end
                msys.registerModule("limits", m)
                """
            )
        ])
        let messages = try policy.lua.run("return badRateMessage, noNameMessage", chunkName: "t")
        XCTAssertTrue(messages[0].description.hasPrefix("limits.lua:2: msys.shared_throttle.create: the rate"))
        XCTAssertTrue(
            messages[1].description.hasPrefix("limits.lua:4: msys.shared_throttle.check: no throttle named"))
        policy.openSession(1, connectionContext: [])
        guard case .suspended(let first) = policy.start(.connect, session: 1) else { return XCTFail() }
        XCTAssertEqual(first.effect, .namedThrottle(operation: "take", name: "per-ip", count: 2, seconds: 60))
        guard case .done(let outcome) = policy.resume(first, with: .ok([.number(12.5)])) else { return XCTFail() }
        XCTAssertEqual(outcome, .reply(code: 421, text: "4.7.0 wait 12.5"))
    }

    func testRoutingDomainHookWithAWritableBuffer() throws {
        let policy = try state([
            (
                "route",
                """
                local mod = {}
                function mod:core_config_get_message_routing_domain(scope, msg, buff)
                  before = #buff .. ":" .. tostring(buff)
                  local stored = buff:set(string.rep("x", 2000))
                  long = #buff
                  buff:set("example.com");
                  return #buff;
                end
                msys.registerModule("route", mod)
                """
            )
        ])
        XCTAssertTrue(policy.hasRoutingDomainHook)
        policy.openSession(1, connectionContext: [])
        XCTAssertEqual(try policy.routingDomain(session: 1, defaultDomain: "orig.test").get(), "example.com")
        XCTAssertEqual(
            try policy.lua.run("return before, long", chunkName: "t"), [.string("9:orig.test"), .number(1024)])
    }

    func testPCRE() throws {
        let policy = try state([
            (
                "re",
                """
                require("msys.pcre")
                local m = msys.pcre.match("user+tag@Example.COM",
                  [[^(?<local>[^+@]+)(?:\\+([^@]*))?@(?i:(example\\.com))$]])
                matched = table.concat({ m[0], m[1], m[2], m[3], m["local"] }, "|")
                nomatch = tostring(msys.pcre.match("abc", "^x"))
                local bad, message, code = msys.pcre.match("abc", "(")
                badpattern = tostring(bad) .. "|" .. tostring(message ~= nil) .. "|" .. tostring(type(code) == "number")
                replaced = msys.pcre.replace("a1b22c333", "([0-9]+)", "<$1>")
                named = msys.pcre.replace("2026-11-25", [[(?<y>\\d+)-(?<m>\\d+)-(?<d>\\d+)]], "${d}.${m}.${y} $$")
                parts = table.concat(msys.pcre.split("a, b,c ,, d", [[\\s*,\\s*]]), "|")
                """
            )
        ])
        XCTAssertEqual(
            try policy.lua.run("return matched, nomatch, badpattern, replaced, named, parts", chunkName: "t"),
            [
                .string("user+tag@Example.COM|user|tag|Example.COM|user"), .string("nil"), .string("nil|true|true"),
                .string("a<1>b<22>c<333>"), .string("25.11.2026 $"), .string("a|b|c||d")
            ])
    }

    /// A pattern that backtracks catastrophically fails with PCRE2's match-limit error after a
    /// bounded number of steps (the watchdog cannot interrupt a C call).
    func testACatastrophicPatternHitsTheMatchLimit() throws {
        let policy = try state([
            (
                "re",
                """
                require("msys.pcre")
                local r, message = msys.pcre.match(string.rep("a", 40) .. "!", "^(a+)+$")
                result, text = tostring(r), tostring(message)
                """
            )
        ])
        let values = try policy.lua.run("return result, text", chunkName: "t")
        XCTAssertEqual(values.first, .string("nil"))
        XCTAssertTrue(values.last?.description.contains("limit") == true, "\(values)")
        XCTAssertEqual(PCRERegex.matchLimit, 1_000_000)
    }

    func testHeaderValuesAreRFC2047Decoded() throws {
        let policy = try state([
            (
                "h",
                """
                local m = {}
                function m:validate_data(msg, accept, vctx)
                  local s = msg:header("Subject")
                  subject = s[1]
                  other = msg:header("X-Other")[1]
                  plain = msg:header("X-Plain")[1]
                  return 0
                end
                msys.registerModule("h", m)
                """
            )
        ])
        policy.openSession(1, connectionContext: [])
        policy.setMessage(
            1,
            Array(
                ("""
                Subject: =?UTF-8?B?SGVsbG8g4pyTIQ==?= =?iso-8859-1?Q?caf=E9_ok?=\r\nX-Other: \
                =?koi8-r?B?8NLJ18XU?=\r\n
                """
                    + "X-Plain: no =? words here\r\n\r\nbody\r\n").utf8))
        XCTAssertEqual(policy.run(.data, session: 1), .proceed)
        XCTAssertEqual(
            try policy.lua.run("return subject, other, plain", chunkName: "t"),
            [.string("Hello ✓!café ok"), .string("=?koi8-r?B?8NLJ18XU?="), .string("no =? words here")])
    }

    /// A change to header fields alone comes back as the new header section, and the body the
    /// spool gets is the received message's own buffer; a body change comes back whole.
    func testHeaderOnlyChangesHandBackTheHeaderSectionAndKeepTheBody() throws {
        let policy = try state([
            (
                "h",
                """
                local m = {}
                function m:validate_data(msg, accept, vctx)
                  msg:header("X-Added", "yes", "append")
                  if msg:header("Subject")[1] == "rewrite" then msg:body("new body\\r\\n") end
                  return 0
                end
                msys.registerModule("h", m)
                """
            )
        ])
        let received = "Subject: keep\r\nFrom: <a@example.test>\r\n\r\nbody line\r\n"
        policy.openSession(1, connectionContext: [])
        policy.setMessage(1, Array(received.utf8))
        XCTAssertEqual(policy.run(.data, session: 1), .proceed)
        let change = try XCTUnwrap(policy.takeModifiedMessage(1))
        XCTAssertEqual(
            change, .header(Array("Subject: keep\r\nFrom: <a@example.test>\r\nX-Added: yes\r\n\r\n".utf8)))
        let message = ByteBuffer(string: received)
        let spooled = PolicyState.apply(change, to: message)
        XCTAssertEqual(spooled.count, 2)
        XCTAssertEqual(String(buffer: spooled[1]), "body line\r\n")
        XCTAssertEqual(
            spooled.map { String(buffer: $0) }.joined(),
            "Subject: keep\r\nFrom: <a@example.test>\r\nX-Added: yes\r\n\r\nbody line\r\n")

        policy.beginMessage(1)
        policy.setMessage(1, Array("Subject: rewrite\r\n\r\nold\r\n".utf8))
        XCTAssertEqual(policy.run(.data, session: 1), .proceed)
        XCTAssertEqual(
            policy.takeModifiedMessage(1), .whole(Array("Subject: rewrite\r\nX-Added: yes\r\n\r\nnew body\r\n".utf8)))
        policy.beginMessage(1)
        policy.setMessage(1, Array("Subject: untouched\r\n\r\nx\r\n".utf8))
        _ = try policy.lua.run("return 1", chunkName: "t")
        XCTAssertNil(policy.takeModifiedMessage(1), "a message no callout looked at is not handed back")
    }

    /// Reading a header takes the message apart; reading it whole afterwards still gives the
    /// octets as received, also for a message that is all header (no empty line, no body).
    func testTheWholeMessageReadAfterAHeaderIsTheReceivedOne() throws {
        let policy = try state([
            (
                "r",
                """
                local m = {}
                function m:validate_data(msg, accept, vctx)
                  subject = msg:header("Subject")[1]
                  whole = msg:raw()
                  return 0
                end
                msys.registerModule("r", m)
                """
            )
        ])
        for received in ["Subject: only a header\r\nX-Two: 2\r\n", "Subject: s\r\n\r\nbody\r\n"] {
            policy.openSession(1, connectionContext: [])
            policy.setMessage(1, Array(received.utf8))
            XCTAssertEqual(policy.run(.data, session: 1), .proceed)
            XCTAssertEqual(try policy.lua.run("return whole", chunkName: "t"), [.string(received)])
            XCTAssertNil(policy.takeModifiedMessage(1))
            _ = policy.closeSession(1)
        }
    }
}
