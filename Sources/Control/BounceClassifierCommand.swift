import Delivery

/// Momentum's bounce_classifier_override commands: `reload` re-reads the rules file, `test
/// [domain=<d>] <reply>` says how a reply would be classified and by which rule.
enum BounceClassifierCommand: ConsoleCommand {
    static let help = [
        ("bounce_classifier_override reload", "re-read the bounce classification rules file"),
        ("bounce_classifier_override test [domain=d] reply", "classify an SMTP reply (and say which rule did)")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "bounce_classifier_override" && (second == "reload" || second == "test")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let classification = console.deliveryLog.classification
        if words[1].lowercased() == "reload" {
            switch classification.reload() {
            case .success(let count):
                guard let path = classification.configuration.rulesFile else {
                    return (true, "No rules file is configured (user_smtp_classification_override).\n")
                }
                console.logger.notice("console: bounce_classifier_override reload: \(count) rules from \(path)")
                return (true, "Loaded \(count) rules from \(path)\n")
            case .failure(let error):
                return (false, "Rules kept; the file has errors:\n\(error.description)\n")
            }
        }
        var rest = Array(words.dropFirst(2))
        var domain: String?
        if let first = rest.first, first.lowercased().hasPrefix("domain=") {
            domain = String(first.dropFirst("domain=".count))
            rest.removeFirst()
        }
        guard !rest.isEmpty else { return (false, "usage: bounce_classifier_override test [domain=d] <reply>\n") }
        let reply = rest.joined(separator: " ")
        let (code, rule) = classification.explain(reply, domain: domain)
        let source =
            rule.map { "rule \($0.domain ?? ""),\($0.code),\($0.text)" } ?? "built-in rules"
        return (true, "\(code) \(classification.name(of: code)) (\(source))\n")
    }
}
