import Metrics
import Prometheus
import Synchronization

/// DKIM counters behind the console's `signing_stats` (since start or `signing_stats reset`):
/// signatures made and signing failures, globally and — with `signing_stats = all`, Momentum's
/// default — per signing domain and per binding; and the DKIM, SPF and DMARC results at reception.
/// Each event also goes to the Prometheus metrics, which never reset.
package final class SigningStatistics: Sendable {
    /// `signing_stats`: how finely signing is counted.
    package enum Granularity: String, Sendable {
        case all, global, off
    }

    package struct Counts: Sendable, Equatable {
        package var signed = 0
        package var failed = 0
    }

    private struct State {
        var granularity = Granularity.all
        var global = Counts()
        var domains: [String: Counts] = [:]
        var bindings: [String: Counts] = [:]
        var verified: [String: Int] = [:]
    }

    private let state = Mutex(State())
    private let factory: PrometheusMetricsFactory
    private let counters = Mutex([String: Metrics.Counter]())

    package init(metrics: ServerMetrics) {
        factory = metrics.factory
    }

    package func setGranularity(_ granularity: Granularity) { state.withLock { $0.granularity = granularity } }

    /// A signature made (`failed` false) or a message that should have been signed and was not,
    /// for signing domain `domain`, delivered through `binding`.
    package func signing(domain: String, binding: String, failed: Bool) {
        let counted = state.withLock { state -> Bool in
            guard state.granularity != .off else { return false }
            func add(_ counts: inout Counts) { if failed { counts.failed += 1 } else { counts.signed += 1 } }
            add(&state.global)
            guard state.granularity == .all else { return true }
            // Domains come from messages: past the bound, new ones count as (other).
            let domainKey = Self.bounded(domain.lowercased(), in: state.domains)
            add(&state.domains[domainKey, default: Counts()])
            add(&state.bindings[Self.bounded(binding, in: state.bindings), default: Counts()])
            return true
        }
        guard counted else { return }
        counter(failed ? "impulse_dkim_signing_failures_total" : "impulse_dkim_signatures_total").increment()
    }

    /// What a result counted at reception came from.
    package enum AuthenticationMethod: String, Sendable {
        case dkim = "DKIM"
        case spf = "SPF"
        case dmarc = "DMARC"

        var metric: String {
            switch self {
            case .dkim: return "impulse_dkim_verifications_total"
            case .spf: return "impulse_spf_results_total"
            case .dmarc: return "impulse_dmarc_results_total"
            }
        }
    }

    /// One result at reception (RFC 8601 words: pass, fail, softfail, neutral, temperror,
    /// permerror, none).
    package func checked(_ method: AuthenticationMethod, _ result: String) {
        state.withLock { $0.verified[method.rawValue + " " + result, default: 0] += 1 }
        counter(method.metric, result: result).increment()
    }

    package func reset() {
        state.withLock { state in
            state.global = Counts()
            state.domains = [:]
            state.bindings = [:]
            state.verified = [:]
        }
    }

    package struct Snapshot: Sendable {
        package var granularity: Granularity
        package var global: Counts
        package var domains: [(String, Counts)]
        package var bindings: [(String, Counts)]
        package var verified: [(String, Int)]
    }

    package var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                granularity: state.granularity, global: state.global,
                domains: state.domains.sorted { $0.key < $1.key },
                bindings: state.bindings.sorted { $0.key < $1.key },
                verified: state.verified.sorted { $0.key < $1.key })
        }
    }

    private static func bounded<Value>(_ key: String, in table: [String: Value]) -> String {
        table[key] != nil || table.count < ServerMetrics.maxLabelSets ? key : "(other)"
    }

    private func counter(_ name: String, result: String? = nil) -> Metrics.Counter {
        counters.withLock { known in
            let key = name + "\u{0}" + (result ?? "")
            if let existing = known[key] { return existing }
            // A fixed set of labels: the names above and the RFC 8601 result words.
            let made = Metrics.Counter(label: name, dimensions: result.map { [("result", $0)] } ?? [], factory: factory)
            known[key] = made
            return made
        }
    }
}
