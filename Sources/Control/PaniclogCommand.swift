import Foundation
import Logging
import Logs

/// `paniclog [n]`: the last paniclog entries.
enum PaniclogCommand: ConsoleCommand {
    static let help = [("paniclog [n]", "the last n (default 20) paniclog entries")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "paniclog" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let number = words.dropFirst().first.flatMap { Int($0) } ?? 20
        guard number > 0 else { return (false, "paniclog: expected a positive number of entries\n") }
        let entries = RecentLogHandler.shared.last(min(number, 200))
        return (true, entries.isEmpty ? "(no entries)\n" : entries.joined(separator: "\n") + "\n")
    }
}
