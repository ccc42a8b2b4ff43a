import Foundation
import Scriptlet

/// `make bench-policy`: what the policy engine costs per callout, and what msg:header, msg:body
/// and msg:text cost per call, in CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), for a
/// 1 KiB and a 1 MiB message. Each case loads one small module into a sealed policy state (as
/// the server does) and runs its validate_data callout once per message, for many messages; a
/// case's figure is its time per message minus the empty callout's.
let cases: [(name: String, body: String)] = [
    ("empty callout", ""),
    ("first header read (takes the message apart)", #"local s = msg:header("Subject")"#),
    ("second header read", #"local s = msg:header("Subject"); local f = msg:header("From")"#),
    (
        "two reads + one header added",
        #"local s, f = msg:header("Subject"), msg:header("From"); msg:header("X-Checked", "yes")"#
    ),
    ("msg:body()", #"local b = msg:body()"#),
    ("msg:text()", #"local t = msg:text()"#),
    ("msg:raw()", #"local r = msg:raw()"#)
]

func threadCPU() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func message(size: Int) -> [UInt8] {
    var text = "Received: from client.test (client.test [192.0.2.1]) by mx.test with ESMTP id 1\r\n"
    text += "From: Sender <sender@source.test>\r\nTo: rcpt@discard.test\r\nSubject: benchmark message\r\n"
    text += "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@source.test>\r\nMIME-Version: 1.0\r\n\r\n"
    let line = String(repeating: "x", count: 76) + "\r\n"
    while text.utf8.count < size { text += line }
    return Array(text.utf8)
}

let directory = NSTemporaryDirectory() + "impulse-policybench-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
var empty: [Int: Double] = [:]
print("| case | 1 KiB: µs per message | 1 MiB: µs per message |")
print("|---|---:|---:|")
for (index, testCase) in cases.enumerated() {
    let path = "\(directory)/case\(index).lua"
    try """
    local mod = {}
    function mod:validate_data(msg, accept, vctx)
      \(testCase.body)
      return msys.core.VALIDATE_CONT
    end
    msys.registerModule("bench", mod)
    """.write(toFile: path, atomically: true, encoding: .utf8)
    let state = try PolicyState(scripts: [ScriptSource(name: "case\(index)", path: path)])
    var cells: [String] = []
    for size in [1024, 1 << 20] {
        let octets = message(size: size)
        let rounds = size > 4096 ? 200 : 20000
        var session = 0
        func once() {
            session += 1
            state.openSession(session, connectionContext: [])
            state.beginMessage(session)
            state.setMessage(session, octets)
            _ = state.run(.data, session: session)
            _ = state.takeModifiedMessage(session)
            _ = state.closeSession(session)
        }
        for _ in 0..<(rounds / 10) { once() }
        let started = threadCPU()
        for _ in 0..<rounds { once() }
        let perMessage = (threadCPU() - started) / Double(rounds) * 1e6
        if index == 0 { empty[size] = perMessage }
        cells.append(
            index == 0 ? String(format: "%.2f", perMessage) : String(format: "%.2f", perMessage - (empty[size] ?? 0)))
    }
    print("| \(testCase.name) | \(cells.joined(separator: " | ")) |")
}
print("\n(The empty callout's row is the whole cost of one session's message callout; the others are")
print("what the case adds to it.)")

// A whole session of each benchmark policy, as the SMTP server drives it: the session opens, each
// callout gets the context keys the server sets, the message is offered, the changes are taken.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/bench").path
print("\n| policy (scripts/bench) | µs per session of one message |")
print("|---|---:|")
for policy in ["full-policy", "realistic-policy"] {
    let state = try PolicyState(scripts: [ScriptSource(name: policy, path: "\(root)/\(policy).lua")])
    state.sessionCounter = { _ in 1 }
    _ = state.runInit()
    let octets = message(size: 1024)
    var session = 0
    func once() {
        session += 1
        state.openSession(session, connectionContext: [], peer: ("127.0.0.1", 40000), listener: ("127.0.0.1", 25))
        let steps: [(Callout, String?, [ContextUpdate])] = [
            (.connect, nil, []),
            (.ehlo, "source.test", [.init(message: false, key: "ehlo_domain", value: "source.test")]),
            (
                .mailFrom, "<sender@source.test>",
                [
                    .init(message: true, key: "mailfrom_address", value: "sender@source.test"),
                    .init(message: true, key: "mailfrom_domain", value: "source.test")
                ]
            ),
            (
                .rcptTo, "<rcpt@discard.test>",
                [
                    .init(message: true, key: "rcptto_address", value: "rcpt@discard.test"),
                    .init(message: true, key: "rcptto_domain", value: "discard.test")
                ]
            ),
            (.rcptToList, nil, []), (.rcptToListFinal, nil, []), (.data, nil, []), (.dataSpool, nil, []),
            (.dataSpoolEachRcpt, nil, []), (.setBinding, nil, [])
        ]
        for (callout, text, updates) in steps where state.implements(callout) {
            if callout == .mailFrom { state.beginMessage(session) }
            if callout == .data { state.setMessage(session, octets) }
            state.setContexts(session, updates)
            _ = state.run(callout, session: session, text: text)
            _ = state.takeChanges(session)
        }
        _ = state.takeModifiedMessage(session)
        _ = state.closeSession(session)
    }
    for _ in 0..<2000 { once() }
    let started = threadCPU()
    for _ in 0..<20000 { once() }
    print("| \(policy) | \(String(format: "%.1f", (threadCPU() - started) / 20000 * 1e6)) |")
}
