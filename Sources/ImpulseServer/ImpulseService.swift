import Logging
import ServiceLifecycle

/// A started `ImpulseServer` as a service of swift-service-lifecycle's `ServiceGroup`: it runs
/// until the group's graceful shutdown (SIGTERM or SIGINT, or the console's `shutdown`), then
/// shuts the server down on its control queue — sessions finish their transactions, at most
/// `shutdown_timeout` seconds — and returns.
public struct ImpulseService: Service {
    let server: ImpulseServer
    let logger: Logger
    /// What systemd is told once the service runs (its signal handlers are in place by then).
    let readyStatus: String

    public init(server: ImpulseServer, logger: Logger, readyStatus: String = "serving") {
        self.server = server
        self.logger = logger
        self.readyStatus = readyStatus
    }

    public func run() async throws {
        // systemd's Type=notify: mail is accepted, and SIGTERM and SIGHUP are handled, from now on.
        SystemdNotifier().ready(status: readyStatus)
        // Returns when graceful shutdown is triggered (throws only when the task is cancelled,
        // which is a shutdown too).
        try? await gracefulShutdown()
        SystemdNotifier().stopping()
        logger.notice(
            "impulse stopping: finishing in-flight transactions (at most \(server.configuration.shutdownTimeout)s)")
        let server = self.server
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            server.control.async {
                server.shutdown()
                finished.resume()
            }
        }
        logger.notice("impulse stopped")
    }
}
