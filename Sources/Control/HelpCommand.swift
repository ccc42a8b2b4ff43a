import Foundation
import Logging
import Logs

/// `help [command]`: every command (Impulse's and those scripts registered) or one.
enum HelpCommand: ConsoleCommand {
    static let help = [("help [command]", "this list, or one command's description")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "help" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        (true, console.help(topic: words.dropFirst().first?.lowercased()))
    }
}

extension ConsoleContext {
    func help(topic: String?) -> String {
        var lines = Console.help.map { "  \($0.0.padding(toLength: 48, withPad: " ", startingAt: 0)) \($0.1)" }
        let scripted = scriptCommands()
        lines += scripted.map {
            "  \($0.padding(toLength: 48, withPad: " ", startingAt: 0)) (registered by a policy script)"
        }
        if let topic {
            let matching = lines.filter { $0.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix(topic) }
            return matching.isEmpty ? "No command '\(topic)'.\n" : matching.joined(separator: "\n") + "\n"
        }
        return "Commands:\n" + lines.joined(separator: "\n") + "\n"
    }
}
