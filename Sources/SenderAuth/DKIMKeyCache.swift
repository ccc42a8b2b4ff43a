import NIOConcurrencyHelpers

/// Signing keys by path, read once and kept (at most `SenderAuthLimits.maxCachedSigningKeys`).
/// One cache belongs to one configuration: a reload starts a new one, so a key rotated at the
/// same path is read again.
public final class DKIMKeyCache: Sendable {
    private let keys = NIOLockedValueBox([String: DKIMPrivateKey]())

    public init() {}

    /// The key at `path`, read and checked on first use.
    public func key(at path: String) throws(DKIMError) -> DKIMPrivateKey {
        if let known = keys.withLockedValue({ $0[path] }) { return known }
        let key = try DKIMPrivateKey.load(path: path)
        keep(key, at: path)
        return key
    }

    func keep(_ key: DKIMPrivateKey, at path: String) {
        keys.withLockedValue { known in
            if known.count < SenderAuthLimits.maxCachedSigningKeys { known[path] = key }
        }
    }
}
