import Foundation
import ImpulseConfig
import ImpulseServer
import Logging
import NIOConcurrencyHelpers
import SMTPServer
import Scriptlet
import Spool

/// `impulse policy test` (docs/policy-test.md): runs the configuration's policy in a real server
/// on loopback — its own spool in a temporary directory, delivery held, DNS, msys.db and msys.http
/// answered from the transcript — drives each transcript's SMTP conversations against it, and
/// reports every callout's decision, the context it changed, the questions it asked, the replies
/// and the messages spooled, checking the transcript's expectations.
package final class PolicyTestRun {
    private let configuration: ImpulseConfiguration
    private let logger: Logger
    private let write: (String) -> Void
    private var passed = 0
    private var failed = 0

    /// What the server reported while one command was handled.
    private final class Observed: Sendable {
        enum Event: Sendable {
            case callout(Callout, CalloutOutcome, [PolicyTrace.ContextChange])
            case spooled(SpoolEnvelope, [UInt8])
        }
        private let events = NIOLockedValueBox<[Event]>([])
        let snapshot = NIOLockedValueBox<PolicyTrace.Snapshot>(([:], [:]))

        func add(_ event: Event) { events.withLockedValue { $0.append(event) } }
        func take() -> [Event] {
            events.withLockedValue { list in
                defer { list = [] }
                return list
            }
        }
    }

    package init(configuration: ImpulseConfiguration, logger: Logger, write: @escaping (String) -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.write = write
    }

    /// The server configuration a test runs: the policy, bindings and inbound options of the
    /// file, on one loopback listener that takes PROXY headers; no other listener, no delivery,
    /// no logs, no datasource connections, no sender-authentication look-ups.
    static func testConfiguration(_ original: ImpulseConfiguration, spoolbase: String) throws -> ImpulseConfiguration {
        guard var listener = original.listeners.first else {
            throw SMTPTestClient.Failure(description: "the configuration has no ESMTP_Listener Listen to test")
        }
        var configuration = original
        listener.address = ListenAddress(host: "127.0.0.1", port: 0)
        listener.implicitTLS = false
        listener.policy.proxyProtocol = true
        for index in listener.peers.indices { listener.peers[index].policy.proxyProtocol = true }
        configuration.listeners = [listener]
        configuration.spoolbase = spoolbase
        configuration.logs = LogConfiguration()
        configuration.control = nil
        configuration.httpListeners = []
        configuration.user = nil
        configuration.group = nil
        configuration.spf = nil
        configuration.dmarc = nil
        configuration.datasources = []
        configuration.outbound.global.suspendDelivery = true
        return configuration
    }

    /// Runs every transcript; the number of expectations that failed (nil: a transcript could not run).
    package func run(_ transcripts: [PolicyTranscript]) -> Int? {
        for transcript in transcripts {
            guard run(transcript) else { return nil }
        }
        write("\n\(passed + failed) expectation(s): \(passed) held, \(failed) failed\n")
        return failed
    }

    private func run(_ transcript: PolicyTranscript) -> Bool {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "impulse-policy-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let observed = Observed()
        let answers = TranscriptAnswers(transcript)
        let trace = PolicyTrace(
            callout: { callout, outcome, changes, after in
                observed.add(.callout(callout, outcome, changes))
                observed.snapshot.withLockedValue { $0 = after }
            },
            spooled: { envelope, message in observed.add(.spooled(envelope, message)) })
        let server: ImpulseServer
        let port: Int
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configuration = try Self.testConfiguration(configuration, spoolbase: directory.path + "/spool")
            server = ImpulseServer(
                configuration: configuration, logger: logger, threads: 1, trace: trace,
                substituteEffects: { answers.answer($0) })
            guard let bound = try server.start(allowRoot: true).first?.port else {
                throw SMTPTestClient.Failure(description: "the test listener did not bind")
            }
            port = bound
        } catch {
            write("\(transcript.path): cannot start the policy: \(error)\n")
            return false
        }
        defer { server.control.sync { server.shutdown() } }
        write("== \(transcript.path)\n")
        var session = Session()
        for line in transcript.steps {
            do {
                try perform(
                    line, in: &session, port: port, observed: observed, answers: answers, transcript: transcript)
            } catch {
                write("\(transcript.path):\(line.number): \(error)\n")
                failed += 1
                return true
            }
        }
        return true
    }

    /// One connection's state.
    private struct Session {
        var client: SMTPTestClient?
        var lastReply: (code: Int, lines: [String])?
        var inData = false
        var sentMessage: [String] = []
        var spooled: [(SpoolEnvelope, [UInt8])] = []
    }

    private func perform(
        _ line: PolicyTranscript.Line, in session: inout Session, port: Int, observed: Observed,
        answers: TranscriptAnswers, transcript: PolicyTranscript
    ) throws {
        let place = "\(transcript.path):\(line.number)"
        switch line.step {
        case .connect(let client):
            session = Session()
            try open(&session, client: client, port: port, observed: observed, answers: answers)
        case .send(let text):
            if session.client == nil {
                try open(&session, client: "127.0.0.1", port: port, observed: observed, answers: answers)
            }
            guard let client = session.client else { return }
            write("> \(text)\n")
            try client.send(text)
            if session.inData && text != "." {
                session.sentMessage.append(text)
                return
            }
            session.lastReply = try client.reply()
            report(observed.take(), answers.takeQuestions(), into: &session)
            if let reply = session.lastReply {
                for (index, replyLine) in reply.lines.enumerated() {
                    write("< \(reply.code)\(index == reply.lines.count - 1 ? " " : "-")\(replyLine)\n")
                }
                if session.inData {
                    session.inData = false
                } else if text.uppercased() == "DATA" && reply.code == 354 {
                    session.inData = true
                    session.sentMessage = []
                }
            }
        case .expectReply(let code, let text):
            // A "< " line right after connecting checks the greeting.
            guard let reply = session.lastReply else { return check(false, place, "a reply \(code), but none came") }
            let whole = reply.lines.joined(separator: " ")
            check(
                reply.code == code && (text.map { whole.hasPrefix($0) } ?? true), place,
                "reply \(code)\(text.map { " " + $0 } ?? "")", got: "\(reply.code) \(whole)")
        case .expectHeader(let name, let value):
            guard let message = session.spooled.last else {
                return check(false, place, "header \(name)", got: "no message spooled")
            }
            let values = Self.fields(of: message.1).filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
            check(
                value.map { values.contains($0) } ?? !values.isEmpty, place,
                "header \(name)\(value.map { ": " + $0 } ?? "")",
                got: values.isEmpty ? "no \(name) field" : values.map { "\(name): \($0)" }.joined(separator: "; "))
        case .expectNoHeader(let name):
            guard let message = session.spooled.last else {
                return check(false, place, "no header \(name)", got: "no message spooled")
            }
            let present = Self.fields(of: message.1).contains { $0.0.lowercased() == name.lowercased() }
            check(!present, place, "no header \(name)", got: "\(name) is there")
        case .expectNothingSpooled:
            check(session.spooled.isEmpty, place, "no message spooled", got: "\(session.spooled.count) spooled")
        case .expectContext(let message, let key, let value):
            let snapshot = observed.snapshot.withLockedValue { $0 }
            let actual = message ? snapshot.mess[key] : snapshot.conn[key]
            let scope = message ? "message" : "connection"
            check(
                actual == value, place, "context \(scope) \(key) \(value.map { "= " + $0 } ?? "unset")",
                got: actual.map { "\(key) = \($0)" } ?? "\(key) unset")
        case .expectBinding(let name):
            guard let envelope = session.spooled.last?.0 else {
                return check(false, place, "binding \(name)", got: "no message spooled")
            }
            let bindings = envelope.recipients.indices.map { envelope.binding(of: $0).binding ?? "default" }
            check(
                !bindings.isEmpty && bindings.allSatisfy { $0 == name }, place, "binding \(name)",
                got: Array(Set(bindings)).sorted().joined(separator: ", "))
        }
    }

    private func open(
        _ session: inout Session, client: String, port: Int, observed: Observed, answers: TranscriptAnswers
    ) throws {
        write("-- connect from \(client)\n")
        let connection = try SMTPTestClient(port: port, client: client)
        session.client = connection
        session.lastReply = try connection.reply()
        report(observed.take(), answers.takeQuestions(), into: &session)
        if let reply = session.lastReply {
            write("< \(reply.code) \(reply.lines.joined(separator: " "))\n")
        }
    }

    private func report(_ events: [Observed.Event], _ questions: [String], into session: inout Session) {
        for question in questions { write("   \(question)\n") }
        for event in events {
            switch event {
            case .callout(let callout, let outcome, let changes):
                write("   \(callout.rawValue): \(Self.describe(outcome))\n")
                for change in changes {
                    let scope = change.message ? "message" : "connection"
                    switch (change.old, change.new) {
                    case (nil, let new?): write("     context \(scope) \(change.key) = \(new)\n")
                    case (_?, let new?):
                        write("     context \(scope) \(change.key) = \(new) (was \(change.old ?? ""))\n")
                    default: write("     context \(scope) \(change.key) removed\n")
                    }
                }
            case .spooled(let envelope, let message):
                session.spooled.append((envelope, message))
                let recipients = envelope.recipients.indices.map { index in
                    "\(envelope.recipients[index].address) (binding \(envelope.binding(of: index).binding ?? "default"))"
                }
                write(
                    "   spooled \(envelope.id): from <\(envelope.mailFrom)> to \(recipients.joined(separator: ", "))\n")
                let sent = Self.fields(of: Array(session.sentMessage.joined(separator: "\r\n").utf8) + [13, 10, 13, 10])
                let stored = Self.fields(of: message)
                for field in stored where !sent.contains(where: { $0 == field }) && field.0 != "Received" {
                    write("     header added: \(field.0): \(field.1)\n")
                }
                for field in sent where !stored.contains(where: { $0 == field }) {
                    write("     header removed or changed: \(field.0): \(field.1)\n")
                }
            }
        }
    }

    private func check(_ holds: Bool, _ place: String, _ expected: String, got: String = "") {
        if holds {
            passed += 1
            write("   ok: expect \(expected)\n")
        } else {
            failed += 1
            write("\(place): FAILED: expected \(expected); got \(got)\n")
        }
    }

    static func describe(_ outcome: CalloutOutcome) -> String {
        switch outcome {
        case .proceed: return "continue"
        case .reply(let code, let text): return "reply \(code)\(text.map { " " + $0 } ?? "")"
        case .disconnect(let code, let text): return "disconnect \(code)\(text.map { " " + $0 } ?? "")"
        case .failed(let failure):
            return "error in module \(failure.module) (\(failure.script)): \(failure.message)"
        }
    }

    /// The header fields of a message (name, unfolded value), in order.
    static func fields(of message: [UInt8]) -> [(String, String)] {
        let text = String(decoding: message, as: UTF8.self)
        let header = text.components(separatedBy: "\r\n\r\n").first ?? ""
        var fields: [(String, String)] = []
        for line in header.components(separatedBy: "\r\n") {
            if let first = line.first, first == " " || first == "\t", !fields.isEmpty {
                fields[fields.count - 1].1 += " " + line.trimmingWhitespace
            } else if let colon = line.firstIndex(of: ":") {
                fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingWhitespace))
            }
        }
        return fields
    }
}
