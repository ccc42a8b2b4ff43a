import ImpulseMetrics

/// `signing_stats` and `signing_stats reset`: DKIM signatures made and signing failures, globally,
/// per signing domain and per binding (as `signing_stats` counts them), and the verification
/// results at reception.
enum SigningStatsCommand: ConsoleCommand {
    static let help = [
        ("signing_stats", "DKIM signatures made and failed (global, per domain, per binding), verification results"),
        ("signing_stats reset", "zero the signing statistics")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "signing_stats" && (second == nil || second == "reset")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let signing = console.statistics.signing
        if words.count > 1 {
            signing.reset()
            return (true, "Signing Statistics are reset\n")
        }
        let snapshot = signing.snapshot
        func block(_ title: String, _ counts: SigningStatistics.Counts, indent: String) -> String {
            "\(indent)\(title) {\n\(indent)  DKIM Signed: \(counts.signed)\n\(indent)  DKIM Failed: \(counts.failed)\n\(indent)}\n"
        }
        var text = "Signing Statistics (signing_stats = \(snapshot.granularity.rawValue)) {\n"
        text += block("Global", snapshot.global, indent: "  ")
        for (domain, counts) in snapshot.domains { text += block("Domain \(domain)", counts, indent: "  ") }
        for (binding, counts) in snapshot.bindings { text += block("Binding \(binding)", counts, indent: "  ") }
        if !snapshot.verified.isEmpty {
            text += "  Verified {\n"
            for (result, count) in snapshot.verified { text += "    \(result): \(count)\n" }
            text += "  }\n"
        }
        return (true, text + "}\n")
    }
}
