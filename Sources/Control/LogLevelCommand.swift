import Foundation
import Logging
import Logs

/// `log level [area [level]]`: show or set the log levels.
enum LogLevelCommand: ConsoleCommand {
    static let help = [("log level [area [level]]", "show the log levels, or set one area's (or 'default') level")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "log" && second == "level" }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        console.logLevel(Array(words.dropFirst(2)))
    }
}

extension ConsoleContext {
    func logLevel(_ arguments: [String]) -> (ok: Bool, text: String) {
        let levels = LogLevels.shared
        if arguments.isEmpty {
            var lines = ["default: \(levels.defaultLevel)"]
            lines += LogLevels.areas.map { "\($0): \(levels.level(for: $0))" }
            return (true, lines.joined(separator: "\n") + "\n")
        }
        let area = arguments[0].lowercased()
        guard area == "default" || LogLevels.areas.contains(area) else {
            return (false, "log level: unknown area '\(area)' (default, \(LogLevels.areas.joined(separator: ", ")))\n")
        }
        guard arguments.count == 2, let level = Logger.Level(rawValue: arguments[1].lowercased()) else {
            return (false, "log level: expected one of trace, debug, info, notice, warning, error, critical\n")
        }
        if area == "default" { levels.defaultLevel = level } else { levels.set(level, for: area) }
        logger.notice("console: log level of \(area) set to \(level)")
        return (true, "\(area): \(level)\n")
    }
}
