import ArgumentParser
import Foundation
import ImpulseConfig
import ImpulseServer
import Logging
import Logs
import Scriptlet
import SenderAuth
import ServiceLifecycle
import Spool

@main
struct Impulse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "impulse",
        abstract: "A mail transfer agent that runs Momentum (ecelerity) Lua policies.",
        subcommands: [Serve.self, CheckConfig.self, SpoolCommand.self, Console.self, PolicyCommand.self])
}

/// Loads a configuration and prints its diagnostics; nil (after printing) when it has errors.
func loadConfiguration(_ path: String) -> ImpulseConfiguration? {
    do {
        let configuration = try ConfigurationLoader().load(path: path)
        for warning in configuration.warnings { FileHandle.standardError.write(Data("\(warning)\n".utf8)) }
        // DKIM keys are read and checked with the configuration: a bad key is a configuration error.
        if let dkim = configuration.dkimSigning { _ = try DKIMSigningPolicy(dkim) }
        return configuration
    } catch {
        for diagnostic in error.diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
        return nil
    }
}

/// Runs on the process's main thread, synchronously: started as root, the server gives up root
/// there, and a thread that has not would be the one `ps` shows (an async main leaves the main
/// thread parked with the credentials it started with).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server in the foreground.")

    @Option(name: .long, help: "Path of ecelerity.conf.")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        name: .long,
        help:
            """
            Event-loop threads (default: one per core with a Lua policy, whose callouts keep the loops busy; \
            otherwise one per core but one, for the spool writer and the kernel's I/O work).
            """
    )
    var threads: Int?

    @Flag(
        name: .long,
        help: "Run as root although the configuration sets no user (for trying it out; never in production).")
    var allowRoot = false

    /// On 2 cores (docs/performance.md): without a policy one loop leaves a core to the spool
    /// writer and the kernel (15–30 % faster than two); with a policy the loops are busier and a
    /// loop per core measured from equal to 30 % faster at 50 sessions, equal at 10.
    static func defaultThreads(policy: Bool) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return policy ? max(1, cores) : max(1, cores - 1)
    }

    func run() throws {
        guard let configuration = loadConfiguration(config) else { throw ExitCode(2) }
        let panicFile: PanicLogHandler.File?
        do {
            panicFile = try configuration.logs.paniclog.map { try PanicLogHandler.File(path: $0) }
        } catch {
            let path = configuration.logs.paniclog ?? ""
            FileHandle.standardError.write(
                Data("\(configuration.logs.placeOf(path))impulse: cannot open paniclog \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LogLevels.shared.defaultLevel = level
        LoggingSystem.bootstrap { label in
            var stderr = StreamLogHandler.standardError(label: label)
            stderr.logLevel = .trace // the area levels decide (console: log level)
            let handlers: [LogHandler] =
                panicFile.map { [stderr, PanicLogHandler(file: $0), RecentLogHandler()] } ?? [
                    stderr, RecentLogHandler()
                ]
            return AreaLevelLogHandler(wrapping: MultiplexLogHandler(handlers))
        }
        let logger = Logger(label: "impulse")
        let server = ImpulseServer(
            configuration: configuration, configurationPath: config, logger: logger,
            threads: threads ?? Self.defaultThreads(policy: configuration.scriptlet != nil))
        let addresses: [String]
        do {
            addresses = try server.start(allowRoot: allowRoot).map {
                "\($0.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "?"):\($0.port ?? 0)"
            }
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
        logger.notice(
            "impulse ready: listening on \(addresses.joined(separator: ", ")) (spool \(configuration.spoolbase))")

        signal(SIGPIPE, SIG_IGN)
        // A file-size limit makes spool writes fail with EFBIG (answered 451) instead of killing us.
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        // SIGTERM and SIGINT: the service group's graceful shutdown; the console's `shutdown` asks
        // for the same. Reloads, console commands and the shutdown run one at a time on the
        // server's control queue.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    ImpulseService(
                        server: server, logger: logger,
                        readyStatus: "listening on \(addresses.joined(separator: ", "))")
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        server.onShutdownRequest { Task { await group.triggerGracefulShutdown() } }
        // SIGHUP: config reload (Momentum's console `config reload`): on any error the running
        // configuration stays and the error is logged.
        let configPath = config
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: server.control)
        reload.setEventHandler { _ = server.reload(from: configPath) }
        reload.resume()
        // The services run on Swift's concurrency threads; this (main) thread waits for them.
        let finished = DispatchSemaphore(value: 0)
        let failure = ServiceFailure()
        Task.detached {
            do { try await group.run() } catch { failure.error = error }
            finished.signal()
        }
        finished.wait()
        reload.cancel()
        if let error = failure.error { throw error }
    }
}

/// How the service group ended, handed from its task to the waiting main thread.
final class ServiceFailure: @unchecked Sendable {
    /// Written once by the service task before it signals, read after the wait.
    var error: Error?
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Parse and validate a configuration; exit non-zero on any error.")

    @Option(name: .long, help: "Path of ecelerity.conf.")
    var config: String

    func run() throws {
        guard let configuration = loadConfiguration(config) else { throw ExitCode(2) }
        let listeners = configuration.listeners.map {
            $0.address.description + ($0.implicitTLS ? " (implicit TLS)" : "")
        }
        print(
            "\(config): OK — \(configuration.listeners.count) listener(s): \(listeners.joined(separator: ", ")); "
                + "spool \(configuration.spoolbase); \(configuration.warnings.count) warning(s)")
        if let scriptlet = configuration.scriptlet {
            // Load the scripts as the server would: syntax errors, require failures and
            // module-level errors fail the check with the script's name and line.
            let sources = scriptlet.scripts.compactMap { script in
                script.resolvedPath.map { ScriptSource(name: script.name, path: $0) }
            }
            do {
                let state = try PolicyState(scripts: sources)
                for warning in state.warnings {
                    FileHandle.standardError.write(Data("\(scriptlet.location): warning: \(warning)\n".utf8))
                }
                let scripts = scriptlet.scripts.map { "\($0.name) (\($0.resolvedPath ?? "built-in " + $0.source))" }
                print(
                    "scriptlet \"\(scriptlet.instance)\": \(scripts.joined(separator: ", ")); "
                        + "callouts: \(state.callouts.map(\.rawValue).sorted().joined(separator: ", "))")
            } catch {
                FileHandle.standardError.write(Data("\(scriptlet.location): error: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}

struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool", abstract: "Inspect the message spool.",
        subcommands: [SpoolList.self])
}

struct SpoolList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List spooled messages: id, sender, recipients, size, age.")

    @Option(name: .long, help: "Path of ecelerity.conf.")
    var config: String

    func run() throws {
        guard let configuration = loadConfiguration(config) else { throw ExitCode(2) }
        let directory = SpoolDirectory(base: configuration.spoolbase)
        let scan = directory.scan(readOnly: true, logger: nil)
        let now = Date().timeIntervalSince1970
        print("ID                      SIZE      AGE  SENDER -> RECIPIENTS")
        for entry in scan.entries {
            let age = max(0, Int(now - Double(entry.envelope.receivedAtMicros) / 1_000_000))
            let recipients = entry.envelope.recipients.map { "<\($0.address)>" }.joined(separator: " ")
            let size = String(entry.dataLength)
            print(
                """
                \(entry.envelope.id)  \(String(repeating: " ", count: max(0, 8 - size.count)))\(size)  \
                \(formatAge(age))  <\(entry.envelope.mailFrom)> -> \(recipients)
                """
            )
        }
        for damage in scan.damaged {
            print("DAMAGED \(damage.path) at offset \(damage.offset) (\(damage.length) octets): \(damage.reason)")
        }
        print("\(scan.entries.count) message(s)" + (scan.damaged.isEmpty ? "" : ", \(scan.damaged.count) damaged"))
    }

    func formatAge(_ seconds: Int) -> String {
        let text: String
        switch seconds {
        case ..<120: text = "\(seconds)s"
        case ..<7200: text = "\(seconds / 60)m"
        case ..<172800: text = "\(seconds / 3600)h"
        default: text = "\(seconds / 86400)d"
        }
        return String(repeating: " ", count: max(0, 5 - text.count)) + text
    }
}
