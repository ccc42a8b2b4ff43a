import Delivery
import Foundation

/// Momentum's `mta_sts` commands over Impulse's policy cache: `list all`, `show domain <d>` (the
/// policy, and the domain's TLS-RPT counts since start) and `refresh policy <d>`.
enum MTASTSCommand: ConsoleCommand {
    static let help = [
        ("mta_sts list all", "domains with a cached MTA-STS policy"),
        ("mta_sts show domain d", "a domain's MTA-STS policy and its TLS-RPT counts"),
        ("mta_sts refresh policy d", "forget a domain's cached policy: the next delivery fetches it")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "mta_sts" && ["list", "show", "refresh"].contains(second ?? "")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        guard let policies = console.queueManager.mtaSTS else { return (false, "MTA-STS is not available.\n") }
        let lower = words.map { $0.lowercased() }
        switch (lower[1], lower.count > 2 ? lower[2] : "") {
        case ("list", "all"):
            let cached = policies.cached()
            return (true, cached.map { "\($0.domain)\n" }.joined() + "Total domains: \(cached.count)\n")
        case ("show", "domain") where lower.count > 3:
            let domain = lower[3]
            var text = ""
            if let found = policies.cached().first(where: { $0.domain == domain }) {
                text += "Domain: \(domain)\nPolicy id: \(found.id)\nMode: \(found.policy.mode.rawValue)\n"
                text += found.policy.mx.map { "MX: \($0)\n" }.joined()
                text += "Max age: \(found.policy.maxAge)\nExpires: \(Int(found.expiresAt.timeIntervalSince1970))\n"
            } else {
                text += "No MTA-STS policy cached for \(domain).\n"
            }
            if let report = policies.tlsReports()[domain] {
                text += "TLS-RPT successful sessions: \(report.successes)\n"
                for (type, count) in report.failures.sorted(by: { $0.key < $1.key }) {
                    text += "TLS-RPT failed sessions (\(type)): \(count)\n"
                }
            }
            return (true, text)
        case ("refresh", "policy") where lower.count > 3:
            _ = policies.forget(lower[3])
            return (true, "MTA-STS policy for \(lower[3]) refreshed.\n")
        default:
            return (false, "usage: mta_sts list all | mta_sts show domain <d> | mta_sts refresh policy <d>\n")
        }
    }
}
