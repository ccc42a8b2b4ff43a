/// One console command (Momentum's console manual; docs/console.md): which lines it takes, what
/// `help` says of it, and what it does. Commands run on the control queue, one at a time; each
/// lives in a file of its own in this folder.
protocol ConsoleCommand: Sendable {
    /// Synopsis and description for `help`, in order.
    static var help: [(String, String)] { get }
    /// Whether the command takes a line whose first two words (lower-cased) are these.
    static func takes(_ first: String, _ second: String?) -> Bool
    /// Runs the command line (its words as typed); the text is the reply.
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String)
}

/// The console's command table: a line goes to the first built-in command that takes it, then
/// to the commands policy scripts registered (msys.registerControl).
package enum Console {
    /// The built-in commands, in `help`'s order.
    static let commands: [any ConsoleCommand.Type] = [
        HelpCommand.self, VersionCommand.self, SummaryCommand.self, ConfigReloadCommand.self, ConfigQueryCommand.self,
        PaniclogCommand.self,
        MailqCommand.self, ShowqueueCommand.self, MessageDetailsCommand.self, QueueActionCommand.self,
        LogLevelCommand.self, ReopenLogsCommand.self, ShutdownCommand.self, SigningStatsCommand.self,
        ThrottleCommand.self, BounceClassifierCommand.self, AdaptiveCommand.self, MTASTSCommand.self,
        DatasourceCommand.self
    ]

    static var help: [(String, String)] { commands.flatMap { $0.help } }

    /// Runs one console command line; call it on the control queue (one command at a time).
    package static func execute(_ line: String, in console: ConsoleContext) -> (ok: Bool, text: String) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first?.lowercased() else { return (true, "") }
        let second = words.dropFirst().first?.lowercased()
        if let command = commands.first(where: { $0.takes(first, second) }) {
            return command.run(words, in: console)
        }
        if let output = console.runScriptCommand(words) {
            return output
        }
        return (false, "Unknown command '\(words[0])'. Try 'help'.\n")
    }
}
