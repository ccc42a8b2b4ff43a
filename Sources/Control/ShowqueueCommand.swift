import Foundation
import Logging
import Logs

/// `showqueue`: the queued messages of a domain.
enum ShowqueueCommand: ConsoleCommand {
    static let help = [("showqueue [binding b|all] domain [limit,offset]", "the queued messages of a domain")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "showqueue" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.showqueue(Array(words.dropFirst()))
    }
}

extension ConsoleContext {
    /// `showqueue [binding <b> | binding all] <domain> [limit,offset]`: Momentum's
    /// `[active|delayed/<binding>] <id> Created: <epoch>` lines (delayed ones with their next
    /// attempt) and `From:`/`To:` lines.
    func showqueue(_ arguments: [String]) -> (ok: Bool, text: String) {
        var rest = arguments[...]
        var binding: String? = "default"
        if rest.first == "binding", rest.count >= 2 {
            binding = rest.dropFirst().first == "all" ? nil : rest.dropFirst().first
            rest = rest.dropFirst(2)
        }
        guard let domain = rest.first?.lowercased() else {
            return (false, "usage: showqueue [binding <b> | binding all] <domain> [limit,offset]\n")
        }
        var limit = 100, offset = 0
        if let window = rest.dropFirst().first {
            let parts = window.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] >= 0 else {
                return (false, "showqueue: expected limit,offset such as 100,0\n")
            }
            (limit, offset) = (parts[0], parts[1])
        }
        var text = ""
        for item in queueManager.items(domain: domain, binding: binding).dropFirst(offset).prefix(limit) {
            let state = item.nextAttemptMicros == nil ? "active" : "delayed"
            text += "[\(state)/\(item.key.binding)] \(item.id) Created: \(item.receivedAtMicros / 1_000_000)"
            if let next = item.nextAttemptMicros { text += " Next: \(next / 1_000_000)" }
            text += "\n  From: <\(item.sender)> To: " + item.recipients.map { "<\($0)>" }.joined(separator: " ") + "\n"
        }
        return (true, text.isEmpty ? "No messages queued for \(domain).\n" : text)
    }
}
