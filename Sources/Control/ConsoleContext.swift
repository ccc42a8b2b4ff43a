import Delivery
import ImpulseMetrics
import Logging

/// What console commands read and act on, handed over by the server's wiring: the queue, the
/// statistics, the logs, and the few things only the wiring can do (reload the configuration,
/// stop, run the commands policy scripts registered with msys.registerControl). Commands run on
/// the server's control queue, one at a time, so every closure here is called there.
package struct ConsoleContext: Sendable {
    /// The version `version` reports.
    package var version: String
    /// `shutdown_timeout`, which `shutdown` quotes.
    package var shutdownTimeout: Int
    package var logger: Logger
    package var queueManager: QueueManager
    package var statistics: ServerStatistics
    package var deliveryLog: DeliveryLog
    /// Inbound sessions open now.
    package var openSessions: @Sendable () -> Int
    /// `config reload`: re-reads the configuration file; the text says what happened.
    package var reload: @Sendable () -> (ok: Bool, text: String)
    /// `shutdown`: asks for the graceful shutdown (nil before the server runs as a service).
    package var requestShutdown: (@Sendable () -> Void)?
    /// `config get` / `config eval` (the words after `config`): the value and the console text.
    package var configQuery: @Sendable ([String]) -> (value: String?, text: String)
    /// The commands the installed policy registered (msys.registerControl), for `help`.
    package var scriptCommands: @Sendable () -> [String]
    /// Runs a line no built-in command takes through the policy's commands; nil when none takes it.
    package var runScriptCommand: @Sendable ([String]) -> (ok: Bool, text: String)?
    /// `ds_core flush <cache>` (the name; nil: `ds_core stats`): the answer.
    package var datasourceCommand: @Sendable (_ flush: String?) -> String

    package init(
        version: String, shutdownTimeout: Int, logger: Logger, queueManager: QueueManager,
        statistics: ServerStatistics, deliveryLog: DeliveryLog, openSessions: @escaping @Sendable () -> Int,
        reload: @escaping @Sendable () -> (ok: Bool, text: String), requestShutdown: (@Sendable () -> Void)?,
        configQuery: @escaping @Sendable ([String]) -> (value: String?, text: String) = { _ in
            (nil, "config: not available\n")
        },
        scriptCommands: @escaping @Sendable () -> [String],
        runScriptCommand: @escaping @Sendable ([String]) -> (ok: Bool, text: String)?,
        datasourceCommand: @escaping @Sendable (_ flush: String?) -> String = { _ in
            "ds_core: no datasources configured\n"
        }
    ) {
        self.version = version
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
        self.queueManager = queueManager
        self.statistics = statistics
        self.deliveryLog = deliveryLog
        self.openSessions = openSessions
        self.reload = reload
        self.requestShutdown = requestShutdown
        self.configQuery = configQuery
        self.scriptCommands = scriptCommands
        self.runScriptCommand = runScriptCommand
        self.datasourceCommand = datasourceCommand
    }
}
