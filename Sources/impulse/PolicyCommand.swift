import ArgumentParser
import Foundation
import ImpulseConfig
import Logging
import PolicyTest

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Work with the configuration's Lua policy.",
        subcommands: [PolicyTestCommand.self])
}

/// `impulse policy test --config FILE TRANSCRIPT…` (docs/policy-test.md).
struct PolicyTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the policy against transcripts, offline; exit 1 when an expectation fails.",
        discussion: """
            Each transcript holds SMTP conversations ('> ' lines sent, '< ' replies expected), the DNS \
            answers, datasource rows and HTTP replies to serve instead of the real ones, and expectations \
            ('expect header …', 'expect context …', 'expect binding …'). The policy runs in a real server on \
            loopback with its own temporary spool; nothing is delivered and nothing leaves the machine. \
            Exit status: 0 every expectation held, 1 one failed, 2 a configuration or transcript error.
            """)

    @Option(name: .long, help: "Path of ecelerity.conf (its scriptlet stanza is the policy).")
    var config: String

    @Option(name: .long, help: "Server log level on standard error (default: warning).")
    var logLevel: String = "warning"

    @Argument(help: "Transcript files.")
    var transcripts: [String]

    func run() throws {
        guard let configuration = loadConfiguration(config) else { throw ExitCode(2) }
        var parsed: [PolicyTranscript] = []
        for path in transcripts {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                FileHandle.standardError.write(Data("\(path): cannot read the transcript\n".utf8))
                throw ExitCode(2)
            }
            do {
                parsed.append(try PolicyTranscript(path: path, text: text))
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let run = PolicyTestRun(configuration: configuration, logger: Logger(label: "impulse")) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        guard let failures = run.run(parsed) else { throw ExitCode(2) }
        if failures > 0 { throw ExitCode(1) }
    }
}
