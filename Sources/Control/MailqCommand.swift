import Foundation
import Logging
import Logs

/// `mailq`: queued work per binding and routing domain, active (ready or being delivered) and
/// delayed (waiting for a retry).
enum MailqCommand: ConsoleCommand {
    static let help = [
        (
            "mailq [-d domain] [-b binding] [-l n]", "queued work per binding and routing domain: active and delayed"
        )
    ]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "mailq" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.mailq(Array(words.dropFirst()))
    }
}

extension ConsoleContext {
    /// `mailq [-d domain …] [-b binding …] [-l limit]`.
    func mailq(_ arguments: [String]) -> (ok: Bool, text: String) {
        var domains: Set<String> = [], bindings: Set<String> = [], limit = 20
        var index = 0
        while index < arguments.count {
            let option = arguments[index]
            guard index + 1 < arguments.count else { return (false, "mailq: \(option) needs a value\n") }
            let value = arguments[index + 1]
            switch option {
            case "-d", "--domain": domains.insert(value.lowercased())
            case "-b", "--binding": bindings.insert(value)
            case "-l", "--limit":
                guard let number = Int(value), number > 0 else {
                    return (false, "mailq: the limit must be a positive number\n")
                }
                limit = number
            default: return (false, "mailq: unknown option \(option) (-d domain, -b binding, -l limit)\n")
            }
            index += 2
        }
        let rows = queueManager.summary()
            .filter {
                (domains.isEmpty || domains.contains($0.key.domain))
                    && (bindings.isEmpty || bindings.contains($0.key.binding))
            }
            .sorted { ($0.active + $0.delayed, $1.key.domain) > ($1.active + $1.delayed, $0.key.domain) }
            .prefix(limit)
        var text =
            "Group/Binding".padding(toLength: 44, withPad: " ", startingAt: 0) + "Domain".leftPadded(18)
            + "AQ".leftPadded(8) + "DQ".leftPadded(8) + "\n"
        text += String(repeating: "-", count: 78) + "\n"
        for row in rows {
            text +=
                "\(row.key.group)/\(row.key.binding)".padding(toLength: 44, withPad: " ", startingAt: 0)
                + row.key.domain.leftPadded(18)
                + "\(row.active)".leftPadded(8) + "\(row.delayed)".leftPadded(8) + "\n"
        }
        return (true, text)
    }
}
