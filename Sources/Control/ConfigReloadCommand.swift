import Foundation
import Logging
import Logs

/// `config reload` (and SIGHUP): read the configuration again and reload the Lua policy.
enum ConfigReloadCommand: ConsoleCommand {
    static let help = [
        (
            "config reload",
            "re-read the configuration and reload the Lua policy; on any error the running configuration stays"
        )
    ]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "config" && second == "reload" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.reload()
    }
}
