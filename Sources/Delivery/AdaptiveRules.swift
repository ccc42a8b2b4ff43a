import ImpulseConfig
import NIOConcurrencyHelpers

/// Response-driven back-off rules (Momentum's Adaptive Delivery rule shape, as
/// `msys.adaptive.registerRules` takes it): per destination domain, reply patterns that, once
/// they match often enough, suspend the queue, lower its throttle or connections, or fail its
/// mail. The built-in set covers the large providers' published rate-limit and block replies;
/// scripts add to it or replace it. Thread-safe.
public final class AdaptiveRules: Sendable {
    /// What a rule does when it triggers.
    public enum Action: Sendable, Equatable, CustomStringConvertible {
        /// No delivery to the queue for this long (seconds).
        case suspend(Int)
        /// The queue's mail fails (bounced, logged) for this long instead of being delivered.
        case blackhole(Int)
        /// Halve the queue's message rate (for `AdaptiveRules.adjustmentLifetime`).
        case throttleDown
        /// Fewer connections at once (at least one).
        case reduceConnections(Int)
        /// This reply stands for the next hop's in the logs, the bounce and the outcome (a 5xx
        /// makes the failure permanent).
        case transcode(String)

        public var description: String {
            switch self {
            case .suspend(let seconds): return "suspend \(seconds)s"
            case .blackhole(let seconds): return "blackhole \(seconds)s"
            case .throttleDown: return "throttle down"
            case .reduceConnections(let count): return "reduce_connections \(count)"
            case .transcode(let reply): return "transcode \(reply)"
            }
        }
    }

    /// One `responses` entry.
    public struct Rule: Sendable {
        /// The domain it is for (lower-case; `*`: every domain).
        public var domain: String
        public var pattern: ScopePattern
        /// `trigger`: fire after this many matches within `seconds` (`"1"`: every match).
        public var count: Int
        public var seconds: Int
        public var actions: [Action]
        public var message: String
        /// `built-in` or `script`.
        public var origin: String

        /// What tells two registrations of one rule apart (scripts register in every Lua state).
        var identity: String {
            "\(domain)\u{0}\(pattern.text)\u{0}\(count)/\(seconds)\u{0}\(actions)\u{0}\(message)"
        }
    }

    struct Table {
        var rules: [Rule]
        /// `["live.com"] = "hotmail.com"`: the alias's mail follows the other domain's rules.
        var aliases: [String: String]
    }

    /// How long a throttle-down or connection reduction lasts after the last trigger (seconds).
    public static let adjustmentLifetime = 3600
    /// The slowest rate throttle-down goes to: one message an hour.
    static let slowestRate = ThrottleRate(count: 1, seconds: 3600)

    private let table: NIOLockedValueBox<Table>

    public init(builtIn: Bool = true) {
        table = NIOLockedValueBox(
            Table(rules: builtIn ? Self.builtInRules() : [], aliases: builtIn ? Self.builtInAliases : [:]))
    }

    /// The rules for mail to `domain`: its own (or its alias target's), then the `*` ones.
    public func rules(for domain: String) -> [Rule] {
        table.withLockedValue { table in
            let name = table.aliases[domain] ?? domain
            return table.rules.filter { $0.domain == name } + table.rules.filter { $0.domain == "*" }
        }
    }

    /// Every rule and alias, for the console.
    public func all() -> (rules: [Rule], aliases: [String: String]) {
        table.withLockedValue { ($0.rules, $0.aliases) }
    }

    /// `msys.adaptive.registerRules`: adds `rules` and `aliases` (a rule already there is not
    /// added twice), or with `replace` makes them the only ones (built-in set included).
    public func register(rules: [Rule], aliases: [String: String], replace: Bool) {
        table.withLockedValue { table in
            if replace { table = Table(rules: [], aliases: [:]) }
            var known = Set(table.rules.map(\.identity))
            // Augmented rules come before the ones already there (Momentum's manual: a custom
            // rule is tried first).
            var added: [Rule] = []
            for rule in rules where known.insert(rule.identity).inserted { added.append(rule) }
            table.rules = added + table.rules
            table.aliases.merge(aliases) { _, new in new }
        }
    }

    /// Reads one rule as the Lua side hands it over: domain, code (PCRE), trigger, message, then
    /// action name and parameter pairs. Throws a message naming what is wrong.
    public static func rule(
        domain: String, code: String, trigger: String, message: String, actions pairs: [(String, String)],
        origin: String
    ) throws(AdaptiveRuleError) -> Rule {
        let pattern: ScopePattern
        do {
            pattern = try ScopePattern(pattern: code, caseless: false)
        } catch {
            throw AdaptiveRuleError("code \"\(code)\" does not compile: \(error.message) at offset \(error.offset)")
        }
        let (count, seconds) = try Self.trigger(trigger)
        var actions: [Action] = []
        for (name, parameter) in pairs {
            switch name.lowercased() {
            case "suspend": actions.append(.suspend(try duration(parameter, for: name)))
            case "blackhole": actions.append(.blackhole(try duration(parameter, for: name)))
            case "throttle":
                guard parameter.lowercased() == "down" else {
                    throw AdaptiveRuleError("action throttle takes \"down\", found \"\(parameter)\"")
                }
                actions.append(.throttleDown)
            case "reduce_connections":
                guard let count = Int(parameter), (1...100_000).contains(count) else {
                    throw AdaptiveRuleError("action reduce_connections takes a count, found \"\(parameter)\"")
                }
                actions.append(.reduceConnections(count))
            case "transcode":
                let digits = parameter.prefix(3)
                guard digits.count == 3, digits.allSatisfy(\.isNumber), ["4", "5"].contains(digits.first!),
                    parameter.count <= 512
                else {
                    throw AdaptiveRuleError("action transcode takes a 4xx or 5xx reply, found \"\(parameter)\"")
                }
                actions.append(.transcode(parameter))
            default:
                throw AdaptiveRuleError(
                    """
                    action "\(name)" is not supported (suspend, blackhole, throttle down, reduce_connections, \
                    transcode)
                    """)
            }
        }
        guard !actions.isEmpty else { throw AdaptiveRuleError("the rule for code \"\(code)\" has no action") }
        return Rule(
            domain: domain.lowercased(), pattern: pattern, count: count, seconds: seconds, actions: actions,
            message: message, origin: origin)
    }

    /// `"1"` or `"N/S"` (N matches within S seconds).
    static func trigger(_ text: String) throws(AdaptiveRuleError) -> (Int, Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard let count = Int(parts[0]), (1...1_000_000).contains(count), parts.count <= 2 else {
            throw AdaptiveRuleError("trigger \"\(text)\" is not \"N\" or \"N/seconds\"")
        }
        if parts.count == 1 { return (count, 3600) }
        guard let seconds = Int(parts[1]), (1...86400).contains(seconds) else {
            throw AdaptiveRuleError("trigger \"\(text)\" is not \"N\" or \"N/seconds\"")
        }
        return (count, seconds)
    }

    /// `"4 hours"`, `"30 minutes"`, `"90 seconds"`, `"1 day"` (Momentum's adaptive durations).
    static func duration(_ text: String, for action: String) throws(AdaptiveRuleError) -> Int {
        let words = text.lowercased().split(separator: " ")
        let units: [String: Int] = [
            "second": 1, "seconds": 1, "minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400,
            "days": 86400
        ]
        guard words.count == 2, let number = Int(words[0]), number > 0, let unit = units[String(words[1])],
            number <= 30 * 86400 / unit
        else {
            throw AdaptiveRuleError("action \(action) takes a duration such as \"4 hours\", found \"\(text)\"")
        }
        return number * unit
    }
}

/// Why a rule cannot be used.
public struct AdaptiveRuleError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
