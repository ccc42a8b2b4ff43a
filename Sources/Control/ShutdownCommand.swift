import Foundation
import Logging
import Logs

/// `shutdown`: finish in-flight transactions and stop (the service group's graceful shutdown).
enum ShutdownCommand: ConsoleCommand {
    static let help = [("shutdown", "finish in-flight transactions and stop")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "shutdown" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        // A moment for this reply to reach the console before the listener closes.
        let request = console.requestShutdown
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { request?() }
        return (
            true,
            "Shutting down: finishing in-flight transactions (at most \(console.shutdownTimeout)s).\n"
        )
    }
}
