/// One `responses` entry of `msys.adaptive.registerRules`, as the script wrote it: checked and
/// compiled by the queue manager (Delivery's AdaptiveRules), which reports what is wrong.
public struct AdaptiveRuleText: Sendable, Equatable {
    public var domain: String
    /// A PCRE the next hop's reply must match.
    public var code: String
    /// `"1"` or `"N/S"`.
    public var trigger: String
    public var message: String
    /// Action name and parameter pairs, in order.
    public var actions: [(String, String)]

    public static func == (lhs: AdaptiveRuleText, rhs: AdaptiveRuleText) -> Bool {
        lhs.domain == rhs.domain && lhs.code == rhs.code && lhs.trigger == rhs.trigger && lhs.message == rhs.message
            && lhs.actions.elementsEqual(rhs.actions, by: ==)
    }
}
