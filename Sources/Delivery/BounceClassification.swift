import Foundation
import ImpulseConfig
import NIOConcurrencyHelpers
import SMTPProtocol

/// The classification codes of failures (Momentum's bounce-logger table) for the bouncelog, the
/// delivery hooks and `msys.bounce`: the operator's `bounce_classifier_override` rules first, then
/// the built-in ones. The rules file is read again every `refresh` seconds (when a failure is
/// classified) and on the console's `bounce_classifier_override reload`; a file that no longer
/// reads keeps the rules in force. Thread-safe.
public final class BounceClassification: Sendable {
    struct State {
        var rules: BounceRules
        var loadedAt: Date
    }

    public let configuration: BounceClassifierConfiguration
    private let state: NIOLockedValueBox<State>

    public init(_ configuration: BounceClassifierConfiguration = BounceClassifierConfiguration()) {
        self.configuration = configuration
        state = NIOLockedValueBox(State(rules: configuration.rules, loadedAt: Date()))
    }

    /// The code of `reply` about a recipient of `domain`.
    public func classify(_ reply: String, domain: String?) -> Int {
        explain(reply, domain: domain).code
    }

    /// The code, with the operator rule that gave it (nil: the built-in rules did).
    public func explain(_ reply: String, domain: String?) -> (code: Int, rule: BounceRules.Rule?) {
        if configuration.rulesFile != nil, configuration.refresh > 0,
            Date().timeIntervalSince(state.withLockedValue { $0.loadedAt }) >= Double(configuration.refresh)
        {
            _ = reload()
        }
        let rules = state.withLockedValue { $0.rules }
        if let rule = rules.match(reply, domain: domain) { return (rule.code, rule) }
        return (BounceClassifier.classify(reply), nil)
    }

    /// The code a transient failure is logged with: a rule's, or the built-in class when it says
    /// more than "soft bounce" (a block, a full mailbox …), else 70 (transient failure).
    public func classifyTransient(_ reply: String, domain: String?) -> Int {
        let (code, rule) = explain(reply, domain: domain)
        if rule != nil { return code }
        return code == BounceClassifier.softBounce || code == BounceClassifier.undetermined
            || code == BounceClassifier.genericBounce ? BounceClassifier.transientFailure : code
    }

    /// Reads the rules file again: the number of rules, or why the old ones stay.
    public func reload() -> Result<Int, BounceRulesReloadError> {
        guard let path = configuration.rulesFile else { return .success(0) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            state.withLockedValue { $0.loadedAt = Date() }
            return .failure(BounceRulesReloadError(description: "cannot read \(path)"))
        }
        let (rules, errors) = BounceRules.parse(text, codes: configuration.codes)
        guard errors.isEmpty else {
            state.withLockedValue { $0.loadedAt = Date() }
            return .failure(
                BounceRulesReloadError(
                    description: errors.map { "\(path):\($0.line):1: \($0.reason)" }.joined(separator: "\n")))
        }
        state.withLockedValue { $0 = State(rules: rules, loadedAt: Date()) }
        return .success(rules.rules.count)
    }

    /// The name of a code: Momentum's, or a custom class's.
    public func name(of code: Int) -> String {
        configuration.customClasses[code] ?? BounceClassifier.names[code] ?? "Unknown"
    }
}

/// Why re-reading the rules failed (the rules in force stay).
public struct BounceRulesReloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
