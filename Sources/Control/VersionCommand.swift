import Foundation
import Logging
import Logs

/// `version`: the server's version.
enum VersionCommand: ConsoleCommand {
    static let help = [("version", "the server's version")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "version" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        (true, "Impulse version \(console.version) (Momentum-compatible policy engine, LuaJIT)\n")
    }
}
