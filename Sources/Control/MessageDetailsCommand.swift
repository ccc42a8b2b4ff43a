import Foundation
import Logging
import Logs

/// `message details`: one spooled message's envelope and/or content, read from its place in the
/// spool.
enum MessageDetailsCommand: ConsoleCommand {
    static let help = [("message details [full|body] id", "one spooled message's envelope, and/or its content")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "message" && second == "details" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.messageDetails(Array(words.dropFirst(2)))
    }
}

extension ConsoleContext {
    /// `message details [full | body] <id>`.
    func messageDetails(_ arguments: [String]) -> (ok: Bool, text: String) {
        let mode = arguments.count > 1 ? arguments[0].lowercased() : "details"
        guard let id = arguments.last, ["details", "full", "body"].contains(mode) else {
            return (false, "usage: message details [full | body] <id>\n")
        }
        // Every message with a recipient to deliver is in the queue manager, which knows where it is.
        guard let (entry, states) = queueManager.queuedMessage(id) else {
            return (false, "Message \(id) not found.\n")
        }
        let envelope = entry.envelope
        var text = ""
        if mode != "body" {
            let pending = states.filter { !$0.settled }
            let earliest: Int64 = pending.map(\.nextAttemptMicros).min() ?? 0
            let next = earliest == 0 ? "now" : String(earliest / 1_000_000)
            text +=
                "Message: \(envelope.id)\nCreated: \(envelope.receivedAtMicros / 1_000_000)\nNext Attempt: \(next)\n"
            let retries: Int = pending.map(\.attempts).max() ?? 0
            text +=
                """
                Retries: \(retries)\nReceived Via: \(envelope.peerAddress):\(envelope.peerPort) \
                \(envelope.receivedProtocol) on \(envelope.listener)\n
                """
            text += "Sender: <\(envelope.mailFrom)>\n"
            for (recipient, state) in zip(envelope.recipients, states) {
                let status = state.settled ? " (done)" : state.attempts > 0 ? " (\(state.attempts) attempt(s))" : ""
                text += "Recipient: <\(recipient.address)>\(status)\n"
            }
            if let domain = envelope.routingDomain { text += "Routing Domain: \(domain)\n" }
            text += "Binding: \(envelope.binding ?? "default")\nSize: \(entry.dataLength)\n"
        }
        if mode != "details" {
            guard let handle = FileHandle(forReadingAtPath: entry.path) else {
                return (false, "cannot read \(entry.path)\n")
            }
            defer { try? handle.close() }
            try? handle.seek(toOffset: UInt64(entry.dataOffset))
            let data = (try? handle.read(upToCount: min(entry.dataLength, 1 << 20))) ?? Data()
            if mode == "full" { text += "\n" }
            text += String(decoding: data, as: UTF8.self)
            if entry.dataLength > 1 << 20 { text += "\n(… \(entry.dataLength - (1 << 20)) more octets not shown)\n" }
        }
        return (true, text)
    }
}
