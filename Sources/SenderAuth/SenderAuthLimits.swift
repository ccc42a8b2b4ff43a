/// Bounds on sender-authentication work, each with its reason.
public enum SenderAuthLimits {
    /// DKIM signatures verified per message: each costs a key look-up and a hash over the message,
    /// and a sender gains nothing from more (RFC 6376 §8.4 warns of exactly this).
    public static let maxSignaturesChecked = 5
    /// Signatures reported per message (the ones past the bound as "not checked").
    public static let maxSignaturesReported = 32
    /// Signing keys kept after a first use (paths with %{d}: one per signing domain).
    public static let maxCachedSigningKeys = 10_000
}
