/// A DKIM signing algorithm (RFC 6376 §3.3, RFC 8463 §3), by its `a=` name.
public enum DKIMAlgorithm: String, Sendable, CaseIterable {
    case rsaSHA1 = "rsa-sha1"
    case rsaSHA256 = "rsa-sha256"
    case ed25519SHA256 = "ed25519-sha256"

    /// The IMPULSE_SIGN_* number (libopendkim's DKIM_SIGN_* numbers too).
    var libraryCode: Int32 {
        switch self {
        case .rsaSHA1: return 0
        case .rsaSHA256: return 1
        case .ed25519SHA256: return 2
        }
    }
}

/// Header or body canonicalisation (RFC 6376 §3.4).
public enum DKIMCanonicalization: String, Sendable, CaseIterable {
    case simple, relaxed
}
