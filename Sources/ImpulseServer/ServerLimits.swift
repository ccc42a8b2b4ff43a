/// Bounds of the server's own surfaces that are not per-listener options (those are SMTPLimits,
/// read from the configuration), with why (docs/threat-model.md).
enum ServerLimits {
    /// Largest file msys.readfile returns: a script cannot make a session hold more.
    static let maxReadFile = 16 * 1024 * 1024
    /// Input buffered while a session waits for its policy or the spool beyond which reading
    /// pauses (a pipelining client cannot make the server hold more).
    static let maxBufferedWhileWaiting = 256 * 1024
    /// Longest console command line.
    static let maxControlLineLength = 8192
    /// Metric label sets (metric, domain, binding) made at most: clients choose domains, so past
    /// this later ones count as `(other)`.
    static let maxMetricLabelSets = 5000
}
