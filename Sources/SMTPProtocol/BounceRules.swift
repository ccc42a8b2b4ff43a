/// Operator rules that classify replies before the built-in set (Momentum's
/// bounce_classifier_override module, `user_smtp_classification_override` file): one rule per
/// line, `domain,bounce_code,rule`. An empty domain makes the rule global; otherwise it applies
/// to replies about recipients of that domain and is tried before the global rules. The rule is
/// text the reply must contain, compared without case, where `*` stands for any run of
/// characters (`550 5.7.1 * blocked*spamhaus`). Blank lines and lines starting with `#` are
/// skipped. The first matching rule wins; with none, BounceClassifier's built-in rules apply.
public struct BounceRules: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        /// Lower-cased; nil: every domain.
        public var domain: String?
        public var code: Int
        /// As written.
        public var text: String
        /// The rule's text between its `*`s, lower-cased, to be found in order.
        let pieces: [String]

        public init(domain: String?, code: Int, text: String) {
            self.domain = domain.map { $0.lowercased() }
            self.code = code
            self.text = text
            pieces = text.lowercased().split(separator: "*", omittingEmptySubsequences: true).map(String.init)
        }

        /// Whether the lower-cased reply contains the pieces in order.
        func matches(_ reply: String) -> Bool {
            guard !pieces.isEmpty else { return false }
            var rest = Array(reply.utf8)[...]
            for piece in pieces {
                let needle = Array(piece.utf8)
                guard let end = Self.end(of: needle, in: rest) else { return false }
                rest = rest[end...]
            }
            return true
        }

        /// Where the first occurrence of `needle` in `haystack` ends.
        static func end(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
            guard needle.count <= haystack.count else { return nil }
            var start = haystack.startIndex
            while start + needle.count <= haystack.endIndex {
                if haystack[start..<start + needle.count].elementsEqual(needle) { return start + needle.count }
                start += 1
            }
            return nil
        }
    }

    /// A line the file could not use: its 1-based number and why.
    public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// Reads the file's text; `codes` are the classification codes a rule may name (the
    /// built-in ones and the configured custom classes). Every bad line is reported.
    public static func parse(_ text: String, codes: Set<Int>) -> (rules: BounceRules, errors: [LineError]) {
        var rules: [Rule] = []
        var errors: [LineError] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = trim(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                errors.append(LineError(line: index + 1, reason: "expected domain,bounce_code,rule"))
                continue
            }
            let domain = trim(fields[0])
            guard let code = Int(trim(fields[1])), codes.contains(code) else {
                errors.append(
                    LineError(line: index + 1, reason: "'\(fields[1])' is not a classification code (or custom class)"))
                continue
            }
            let rule = trim(fields[2])
            guard rule.contains(where: { $0 != "*" }) else {
                errors.append(LineError(line: index + 1, reason: "the rule is empty"))
                continue
            }
            rules.append(Rule(domain: domain.isEmpty ? nil : domain, code: code, text: rule))
        }
        return (BounceRules(rules: rules), errors)
    }

    /// Without the spaces, tabs and carriage returns around it.
    static func trim(_ text: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
        else { return "" }
        return String(text[first...last])
    }

    /// The first rule for `domain`, then the first global rule, that matches `reply`.
    public func match(_ reply: String, domain: String?) -> Rule? {
        let text = reply.lowercased()
        let domain = domain?.lowercased()
        if let domain, let rule = rules.first(where: { $0.domain == domain && $0.matches(text) }) { return rule }
        return rules.first { $0.domain == nil && $0.matches(text) }
    }

    /// The classification code of `reply`: a rule's, else the built-in one.
    public func classify(_ reply: String, domain: String?) -> Int {
        match(reply, domain: domain)?.code ?? BounceClassifier.classify(reply)
    }
}

extension BounceClassifier {
    /// Every built-in code (Momentum's bounce-logger table).
    public static let codes = Set(names.keys)

    /// Each built-in code's name.
    public static let names: [Int: String] = [
        1: "Undetermined", 10: "Invalid Recipient", 20: "Soft Bounce", 21: "DNS Failure", 22: "Mailbox Full",
        23: "Too Large", 24: "Timeout", 25: "Admin Failure", 30: "Generic Bounce: No RCPT", 40: "Generic Bounce",
        50: "Mail Block", 51: "Spam Block", 52: "Spam Content", 53: "Prohibited Attachment", 54: "Relaying Denied",
        60: "Auto-Reply", 70: "Transient Failure", 80: "Subscribe", 90: "Unsubscribe", 100: "Challenge-Response"
    ]
}
