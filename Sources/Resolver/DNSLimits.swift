/// Every bound on what a name server's answers and the server's own look-ups may cost, with its
/// reason. Answers are untrusted input; look-ups are asked for by untrusted clients' sessions
/// (a DNSBL look-up per connection) and by the operator's scripts.
public enum DNSLimits {
    /// Seconds one look-up may take before its waiters hear SERVFAIL ("timed out"). libunbound
    /// retries a silent server on its own for much longer; an SMTP client waiting on a policy's
    /// look-up should not.
    public static let queryTimeout: Double = 5
    /// Distinct questions outstanding at the name servers at once. Beyond it a look-up fails at
    /// once (SERVFAIL) instead of queueing without bound behind a slow or silent server.
    public static let maxQueriesInFlight = 4096
    /// Records taken from one answer. A larger answer fails as a bad answer: no MX, A, TXT or PTR
    /// set a mail server uses comes near it, and each record costs memory in the cache.
    public static let maxAnswerRecords = 100
    /// Answers (positive and negative) kept in the cache; the oldest go first beyond it.
    public static let maxCacheEntries = 100_000
    /// Longest an answer is cached, whatever TTL it carries (unbound's cache-max-ttl default).
    public static let maxTTL: UInt32 = 86_400
    /// Longest a negative answer is cached (RFC 2308 §5 suggests one to three hours; unbound's
    /// cache-max-negative-ttl default is one hour).
    public static let maxNegativeTTL: UInt32 = 3_600
    /// How often the resolver thread looks for look-ups past their time.
    static let sweepInterval: Double = 0.1
}
