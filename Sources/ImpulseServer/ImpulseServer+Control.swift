import Foundation
import ImpulseConfig
import ImpulseMetrics
import Logging
import Logs
import PolicyRuntime
import SMTPServer
import Scriptlet

/// The console's commands (Momentum's console manual; docs/console.md), with Momentum's names and output shapes
/// where Impulse has the thing they report on.
extension ImpulseServer {
    /// Runs one console command line, on the control queue (one command at a time; config
    /// reload and shutdown take turns with the signal handlers).
    public func runControl(_ line: String) -> (ok: Bool, text: String) {
        control.sync { executeControl(line) }
    }

    static let controlHelp: [(String, String)] = [
        ("help [command]", "this list, or one command's description"),
        ("version", "the server's version"),
        ("summary", "connections and messages since start (or since `summary reset`)"),
        ("summary reset", "zero the summary counters"),
        (
            "config reload",
            "re-read the configuration and reload the Lua policy; on any error the running configuration stays"
        ),
        ("paniclog [n]", "the last n (default 20) paniclog entries"),
        ("mailq [-d domain] [-b binding] [-l n]", "queued work per binding and routing domain: active and delayed"),
        ("showqueue [binding b|all] domain [limit,offset]", "the queued messages of a domain"),
        ("domain name", "a domain's queues: counts, oldest message, next attempt, last error, connections"),
        ("message details [full|body] id", "one spooled message's envelope, and/or its content"),
        ("message retry id", "deliver a delayed message now"),
        ("message fail [quiet] id", "fail a message's remaining recipients (554 manually failed); bounce unless quiet"),
        ("message delete id", "fail a message's remaining recipients without a bounce"),
        ("fail domain [quiet] [--dry-run] domain [text]", "fail every queued message of a domain"),
        ("flush domain domain|all", "retry a domain's delayed mail now"),
        ("suspend domain domain", "hold a domain's mail (until resume or restart)"),
        ("resume domain domain", "deliver a suspended domain's mail again"),
        ("log level [area [level]]", "show the log levels, or set one area's (or 'default') level"),
        ("reopen logs", "open the mainlog, bouncelog, rejectlog and paniclog again (after ec_rotate-style renaming)"),
        ("shutdown", "finish in-flight transactions and stop")
    ]

    func executeControl(_ line: String) -> (ok: Bool, text: String) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first?.lowercased() else { return (true, "") }
        switch (first, words.dropFirst().first?.lowercased()) {
        case ("help", let topic):
            return (true, help(topic: topic))
        case ("version", _):
            return (true, "Impulse version \(ImpulseServer.version) (Momentum-compatible policy engine, LuaJIT)\n")
        case ("summary", "reset"):
            statistics.reset()
            return (true, "statistics cleared.\n")
        case ("summary", nil):
            return (true, summary())
        case ("config", "reload"):
            guard let path = configurationPath else {
                return (false, "config reload: the configuration file is not known\n")
            }
            return reload(from: path)
        case ("paniclog", let count):
            let number = count.flatMap { Int($0) } ?? 20
            guard number > 0 else { return (false, "paniclog: expected a positive number of entries\n") }
            let entries = RecentLogHandler.shared.last(min(number, 200))
            return (true, entries.isEmpty ? "(no entries)\n" : entries.joined(separator: "\n") + "\n")
        case ("mailq", _):
            return mailq(Array(words.dropFirst()))
        case ("showqueue", _):
            return showqueue(Array(words.dropFirst()))
        case ("message", "details"):
            return messageDetails(Array(words.dropFirst(2)))
        case ("message", "retry"), ("message", "fail"), ("message", "delete"), ("fail", "domain"), ("flush", "domain"),
            ("suspend", "domain"), ("resume", "domain"), ("domain", _):
            return queueAction(words)
        case ("log", "level"):
            return logLevel(Array(words.dropFirst(2)))
        case ("reopen", "logs"), ("ec_logger:ec_logger", "reopen"), ("ec_logger", "reopen"):
            let failures = deliveryLog.reopen() + PanicLogHandler.File.reopenAll()
            logger.notice("console: logs reopened")
            return failures.isEmpty
                ? (true, "Logs reopened.\n") : (false, "cannot reopen: \(failures.joined(separator: "; "))\n")
        case ("shutdown", _):
            // A moment for this reply to reach the console before the listener closes.
            let request = shutdownRequested
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { request?() }
            return (
                true, "Shutting down: finishing in-flight transactions (at most \(configuration.shutdownTimeout)s).\n"
            )
        default:
            if let policy, let output = policy.scheduler.runControl(words) {
                return (output.ok, output.text)
            }
            return (false, "Unknown command '\(words[0])'. Try 'help'.\n")
        }
    }

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

    func help(topic: String?) -> String {
        var lines = Self.controlHelp.map { "  \($0.0.padding(toLength: 48, withPad: " ", startingAt: 0)) \($0.1)" }
        let scripted = policy?.scheduler.controlCommands() ?? []
        lines += scripted.map {
            "  \($0.padding(toLength: 48, withPad: " ", startingAt: 0)) (registered by a policy script)"
        }
        if let topic {
            let matching = lines.filter { $0.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix(topic) }
            return matching.isEmpty ? "No command '\(topic)'.\n" : matching.joined(separator: "\n") + "\n"
        }
        return "Commands:\n" + lines.joined(separator: "\n") + "\n"
    }

    func summary() -> String {
        let snapshot = statistics.snapshot
        let totals = queueManager.totals()
        func rate(_ count: Int) -> String {
            snapshot.sinceReset > 0 ? String(format: "%.1f/s", Double(count) / snapshot.sinceReset) : "0.0/s"
        }
        let rows: [(String, String)] = [
            ("Uptime", Self.duration(snapshot.uptime)),
            ("Statistics since", Self.duration(snapshot.sinceReset) + " ago"),
            ("Current Connections", "\(services.sessions.count)"),
            ("Total Connections", "\(snapshot.sessions)"),
            ("Total Received", "\(snapshot.received) (\(rate(snapshot.received)))"),
            ("Total Recipients", "\(snapshot.recipients)"),
            ("Total Rejected", "\(snapshot.rejected)"),
            ("Total Discarded", "\(snapshot.discarded)"),
            ("Outbound Concurrency", "\(totals.connections)"),
            ("Inbound Concurrency", "\(services.sessions.count)"),
            ("Active Queue Size", "\(totals.active)"),
            ("Delayed Queue Size", "\(totals.delayed)"),
            ("Total Queue Size", "\(totals.active + totals.delayed)"),
            ("Resident Messages", "\(totals.messages)"),
            ("Successfully Delivered Messages", "\(snapshot.delivered)"),
            ("Failed Messages", "\(snapshot.failed)"),
            ("Transient Failures", "\(snapshot.transientFailures)"),
            ("Delivery Rate", rate(snapshot.delivered + snapshot.failed))
        ]
        return "Summary Statistics:\n" + rows.map { "  \($0.0): \($0.1)" }.joined(separator: "\n") + "\n"
    }

    static func duration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval)
        return String(
            format: "%dd %02d:%02d:%02d", seconds / 86400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60)
    }

    /// Reloads from `path` (SIGHUP and `config reload`); the text says what happened.
    @discardableResult
    public func reload(from path: String) -> (ok: Bool, text: String) {
        logger.notice("config reload: reading \(path)")
        let fresh: ImpulseConfiguration
        do {
            fresh = try ConfigurationLoader().load(path: path)
        } catch {
            let text = error.diagnostics.map { "\($0)" }.joined(separator: "\n")
            logger.error("config reload failed: \(text); the running configuration stays")
            return (false, "config reload failed; the running configuration stays:\n\(text)\n")
        }
        do {
            try reload(fresh)
            return (true, "Configuration reloaded.\n")
        } catch {
            logger.error("config reload failed: \(error); the running configuration stays")
            return (false, "config reload failed; the running configuration stays:\n\(error)\n")
        }
    }
}
