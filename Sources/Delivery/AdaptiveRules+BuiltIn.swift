/// The built-in adaptive rules: the rate-limit and block replies the large mailbox providers
/// publish in their sender guidelines, written from those published texts (Gmail's 4.7.28 and
/// "try again later" deferrals, Microsoft's RP-00x and 4.7.650 throttling, Yahoo's TS0x
/// deferrals) and the wording most receivers use for "too many connections" and rate limits.
/// They apply to every domain (`*`): the same providers host many domains under other names.
extension AdaptiveRules {
    static let builtInAliases: [String: String] = [:]

    /// (code, trigger, actions, message)
    static let builtInTable: [(String, String, [(String, String)], String)] = [
        (
            #"^4\d\d[ -]4\.7\.28\b"#, "1", [("throttle", "down")],
            "unusual rate of mail from this address: slowing down"
        ),
        (
            #"^421[ -]4\.7\.0 .*(?i:try again later)"#, "3/60", [("throttle", "down")],
            "repeated 'try again later' deferrals: slowing down"
        ),
        (#"\bRP-00[123]\b"#, "1", [("throttle", "down")], "rate limited by the receiver (RP-00x): slowing down"),
        (#"\b4\.7\.650\b"#, "1", [("throttle", "down")], "temporarily rate limited (4.7.650): slowing down"),
        (#"\[TS0[12]\]"#, "1", [("throttle", "down")], "deferred for volume or complaints (TS01/TS02): slowing down"),
        (#"\[TS03\]"#, "1", [("suspend", "1 hours")], "deferred for complaints (TS03): suspended"),
        (
            #"(?i)too many (concurrent |simultaneous )?connections"#, "1", [("reduce_connections", "1")],
            "too many connections: one fewer"
        ),
        (
            #"^4\d\d.*(?i:rate[- ]?limit|too many (messages|mails|emails)|sending rate)"#, "3/60",
            [("throttle", "down")], "rate limited: slowing down"
        ),
        (
            #"^5\d\d[ -]5\.7\.\d+ .*(?i:blocked using|blacklisted|blocklisted|on our block ?list|\bS3150\b|banned sending ip)"#,
            "5/300", [("suspend", "1 hours")], "this sending address is blocked: suspended"
        )
    ]

    static func builtInRules() -> [Rule] {
        builtInTable.map { code, trigger, actions, message in
            // The table is fixed and tested (AdaptiveRulesTests): every entry compiles.
            try! rule(domain: "*", code: code, trigger: trigger, message: message, actions: actions, origin: "built-in")
        }
    }
}
