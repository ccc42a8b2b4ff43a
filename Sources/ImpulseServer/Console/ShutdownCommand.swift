import Foundation
import ImpulseConfig
import Logging
import Logs
import Spool

/// `shutdown`: finish in-flight transactions and stop (the service group's graceful shutdown).
enum ShutdownCommand: ConsoleCommand {
    static let help = [("shutdown", "finish in-flight transactions and stop")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "shutdown" }
    static func run(_ words: [String], on server: ImpulseServer) -> (ok: Bool, text: String) {
        // A moment for this reply to reach the console before the listener closes.
        let request = server.shutdownRequested
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { request?() }
        return (
            true,
            "Shutting down: finishing in-flight transactions (at most \(server.configuration.shutdownTimeout)s).\n"
        )
    }
}
