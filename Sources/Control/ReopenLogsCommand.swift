import Foundation
import Logging
import Logs

/// `reopen logs` (and Momentum's `ec_logger reopen`): open every log file again, after renaming.
enum ReopenLogsCommand: ConsoleCommand {
    static let help = [
        (
            "reopen logs", "open the mainlog, bouncelog, rejectlog and paniclog again (after ec_rotate-style renaming)"
        )
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        (first == "reopen" && second == "logs")
            || ((first == "ec_logger:ec_logger" || first == "ec_logger") && second == "reopen")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let failures = console.deliveryLog.reopen() + PanicLogHandler.File.reopenAll()
        console.logger.notice("console: logs reopened")
        return failures.isEmpty
            ? (true, "Logs reopened.\n") : (false, "cannot reopen: \(failures.joined(separator: "; "))\n")
    }
}
