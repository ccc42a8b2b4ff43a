import NIOConcurrencyHelpers
import Scriptlet

/// Answers DNS, msys.db and msys.http from a transcript instead of the network, and remembers
/// each question for the report. A question the transcript does not answer gets NXDOMAIN (DNS)
/// or an error (database, HTTP), so a test never leaves the machine.
package final class TranscriptAnswers: Sendable {
    private let transcript: PolicyTranscript
    private let asked = NIOLockedValueBox<[String]>([])

    package init(_ transcript: PolicyTranscript) { self.transcript = transcript }

    /// The questions asked since the last call, as report lines.
    package func takeQuestions() -> [String] {
        asked.withLockedValue { lines in
            defer { lines = [] }
            return lines
        }
    }

    package func answer(_ effect: PolicyEffect) -> EffectResult? {
        switch effect {
        case .dnsLookup(let name, let type):
            let key = PolicyTranscript.dnsKey(type, name)
            switch transcript.dns[key] {
            case .records(let values)?:
                note("dns \(key) → \(values.joined(separator: ", "))")
                return .ok(values.map { .string($0) })
            case .failure(let reason)?:
                note("dns \(key) → \(reason)")
                return .failed(reason == "SERVFAIL" ? "SERVFAIL: from the transcript" : reason)
            case nil:
                note("dns \(key) → NXDOMAIN (not in the transcript)")
                return .failed("NXDOMAIN")
            }
        case .database(let call):
            var given: [String?]?
            if case .positional(let values) = call.parameters { given = values }
            let wanted = call.sql.trimmingWhitespace
            let parameters = given.map { "[" + $0.map { $0 ?? "null" }.joined(separator: ", ") + "]" } ?? "(named)"
            guard
                let match = transcript.databases.first(where: { answer in
                    answer.datasource == call.cache && answer.sql.trimmingWhitespace == wanted
                        && (answer.parameters == nil || answer.parameters == given)
                })
            else {
                note(
                    "db \(call.cache) \(call.operation.rawValue) \"\(wanted)\" \(parameters) → error (not in the transcript)"
                )
                return .failed("no answer in the policy test transcript for this query")
            }
            let rows = call.operation == .fetchRow ? Array(match.rows.prefix(1)) : match.rows
            note("db \(call.cache) \(call.operation.rawValue) \"\(wanted)\" \(parameters) → \(rows.count) row(s)")
            return DatabaseCall.success(columns: match.columns, rows: rows, affectedRows: rows.count)
        case .http(let call):
            guard let match = transcript.http.first(where: { $0.method == call.method && $0.url == call.url }) else {
                note("http \(call.method) \(call.url) → error (not in the transcript)")
                return .failed("no answer in the policy test transcript for \(call.method) \(call.url)")
            }
            note("http \(call.method) \(call.url) → \(match.status)")
            return HTTPCall.success(status: match.status, headers: [], body: Array(match.body.utf8))
        default:
            return nil
        }
    }

    private func note(_ line: String) { asked.withLockedValue { $0.append(line) } }
}
