import Foundation
import XCTest

@testable import Scriptlet

/// Runs the Lua-level unit tests in `Lua/` (next to this file): each file is loaded as a policy
/// script in a real sealed state — its module-level asserts run then — and every callout its
/// module implements runs once in a session, message callouts with a small message. A failed
/// `assert` is a callout failure naming the file and line.
final class LuaUnitTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Lua")
        .path

    static let message = Array("Subject: Lua unit test\r\nFrom: <a@example.test>\r\n\r\nbody\r\n".utf8)

    func testEveryLuaTestFilePasses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory).filter {
            $0.hasSuffix("_test.lua")
        }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 2, "the Lua tests are found")
        for file in files {
            let name = String(file.dropLast(4))
            let policy: PolicyState
            do {
                policy = try PolicyState(scripts: [ScriptSource(name: name, path: Self.directory + "/" + file)])
            } catch {
                XCTFail("\(file): \(error)")
                continue
            }
            policy.openSession(1, connectionContext: [])
            var ran = 0
            for callout in [Callout.connect, .ehlo, .mailFrom, .rcptTo, .data] where policy.implements(callout) {
                if callout == .data { policy.setMessage(1, Self.message) }
                let outcome = policy.run(callout, session: 1, text: callout == .ehlo ? "client.test" : nil)
                if case .failed(let failure) = outcome { XCTFail("\(file): \(failure)") }
                ran += 1
            }
            XCTAssertGreaterThan(ran, 0, "\(file) implements no callout")
        }
    }
}
