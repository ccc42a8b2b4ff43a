/// Bounds of the SMTP server's own that are not per-listener options (those are SMTPLimits, read
/// from the configuration), with why (docs/threat-model.md).
package enum ServerLimits {
    /// Input buffered while a session waits for its policy or the spool beyond which reading
    /// pauses (a pipelining client cannot make the server hold more).
    package static let maxBufferedWhileWaiting = 256 * 1024
}
