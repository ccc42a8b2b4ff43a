/// Bounds on sender-authentication work, each with its reason.
public enum SenderAuthLimits {
    /// DKIM signatures verified per message: each costs a key look-up and a hash over the message,
    /// and a sender gains nothing from more (RFC 6376 §8.4 warns of exactly this).
    public static let maxSignaturesChecked = 5
    /// Signatures reported per message (the ones past the bound as "not checked").
    public static let maxSignaturesReported = 32
    /// Signing keys kept after a first use (paths with %{d}: one per signing domain).
    public static let maxCachedSigningKeys = 10_000
    /// DNS look-ups one SPF check may make in all (RFC 7208 §4.6.4 caps the mechanisms and
    /// modifiers that look up at 10; each MX or PTR may cost up to 10 more).
    public static let maxSPFLookups = 40
    /// Look-ups answered NXDOMAIN or empty (RFC 7208 §4.6.4: "SHOULD limit … to 2").
    public static let maxSPFVoidLookups = 2
    /// Seconds one SPF check may spend on look-ups (RFC 7208 §4.6.4 suggests at least 20).
    public static let spfCheckTime: Double = 20
    /// ARC sets a chain may have (RFC 8617 §4.2.1: instances run from 1 to 50).
    public static let maxARCInstances = 50
    /// Smallest RSA key a signature is trusted with (RFC 8301 §3.2).
    public static let minRSAKeyBits: UInt32 = 1024
    /// Header field names one ARC-Message-Signature may sign (its h= list).
    public static let maxSignedHeaderNames = 256
}
