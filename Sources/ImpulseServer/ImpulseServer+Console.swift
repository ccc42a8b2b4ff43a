import Control
import Foundation
import ImpulseConfig

/// The console's view of the server (Control's `ConsoleContext`), and `config reload`.
extension ImpulseServer {
    /// Runs one console command line on the control queue (one command at a time; config reload
    /// and shutdown take turns with the signal handlers).
    public func runControl(_ line: String) -> (ok: Bool, text: String) {
        control.sync { Console.execute(line, in: consoleContext()) }
    }

    /// What console commands act on; made on the control queue, used there.
    func consoleContext() -> ConsoleContext {
        let sessions = services.sessions
        let policy = self.policy
        return ConsoleContext(
            version: Self.version, shutdownTimeout: configuration.shutdownTimeout, logger: logger,
            queueManager: queueManager, statistics: statistics, deliveryLog: deliveryLog,
            openSessions: { sessions.count },
            reload: {
                guard let path = self.configurationPath else {
                    return (false, "config reload: the configuration file is not known\n")
                }
                return self.reload(from: path)
            },
            requestShutdown: shutdownRequest.withLockedValue { $0 },
            configQuery: { [configurationQuery] words in configurationQuery.withLockedValue { $0 }.answer(words) },
            scriptCommands: { policy.value?.scheduler.controlCommands() ?? [] },
            runScriptCommand: { words in policy.value?.scheduler.runControl(words) },
            datasourceCommand: { flush in
                guard let datasources = policy.value?.datasources else { return "ds_core: no datasources configured\n" }
                return flush.map { datasources.flush($0) } ?? datasources.statisticsText()
            })
    }

    /// Reloads from `path` (SIGHUP and `config reload`), on the control queue; the text says what
    /// happened.
    @discardableResult
    public func reload(from path: String) -> (ok: Bool, text: String) {
        logger.notice("config reload: reading \(path)")
        let notifier = SystemdNotifier()
        notifier.reloading()
        defer { notifier.ready(status: "serving") }
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
