/// The `opendkim` stanza (Momentum's opendkim module): how messages are DKIM-signed at
/// reception. Options set in the stanza are the defaults of its `dkim_domain` scopes; a message
/// is signed for its responsible domain (the Sender: field's domain, else From:'s) when a
/// `dkim_domain` scope names that domain, or, without one, when the stanza itself sets a
/// selector (the key path's `%{d}` and `%{s}` expand per message).
public struct DKIMSigningConfiguration: Sendable, Equatable {
    /// One scope's options (nil: not set here).
    public struct Options: Sendable, Equatable {
        public var headerCanon: String?
        public var bodyCanon: String?
        public var digest: String?
        public var headerList: [String]?
        public var oversignHeaderList: [String]?
        public var skipHeaderList: [String]?
        /// The key file, with `%{d}` and `%{s}` to expand; and where it was set.
        public var key: String?
        public var keyLocation: SourceLocation?
        /// `selector`: one, or a list — each signs with its own key (the key path's `%{s}`), so a
        /// message can carry an RSA and an Ed25519 signature.
        public var selectors: [String]?
        /// The first selector (what a script's sign call defaults to).
        public var selector: String? { selectors?.first }
        public var baseDomain: String?
        public var identity: String?
        public var signCondition: String?
        public var bodyLengthLimit: Bool?
        public var copyHeaders: Bool?
        /// `lifetime` in hours (0: no expiry).
        public var lifetimeHours: Int?

        public init() {}

        /// This scope's values where set, `fallback`'s elsewhere.
        public func over(_ fallback: Options) -> Options {
            var result = self
            result.headerCanon = headerCanon ?? fallback.headerCanon
            result.bodyCanon = bodyCanon ?? fallback.bodyCanon
            result.digest = digest ?? fallback.digest
            result.headerList = headerList ?? fallback.headerList
            result.oversignHeaderList = oversignHeaderList ?? fallback.oversignHeaderList
            result.skipHeaderList = skipHeaderList ?? fallback.skipHeaderList
            if key == nil {
                result.key = fallback.key
                result.keyLocation = fallback.keyLocation
            }
            result.selectors = selectors ?? fallback.selectors
            result.baseDomain = baseDomain ?? fallback.baseDomain
            result.identity = identity ?? fallback.identity
            result.signCondition = signCondition ?? fallback.signCondition
            result.bodyLengthLimit = bodyLengthLimit ?? fallback.bodyLengthLimit
            result.copyHeaders = copyHeaders ?? fallback.copyHeaders
            result.lifetimeHours = lifetimeHours ?? fallback.lifetimeHours
            return result
        }
    }

    /// What happens to a message that should be signed and cannot be (Impulse's own option,
    /// `signing_failure`): it is spooled unsigned (logged with the domain), or refused with a
    /// temporary error so the client keeps it and tries again.
    public enum FailureAction: String, Sendable, Equatable {
        case deliverUnsigned = "deliver_unsigned"
        case tempfail
    }

    public var name: String
    public var location: SourceLocation
    public var defaults = Options()
    /// `dkim_domain` scopes by lower-cased domain, each already merged over the defaults.
    public var domains: [String: Options] = [:]
    public var failureAction = FailureAction.deliverUnsigned
    /// Impulse's own `authentication_results`: verify every received message's DKIM signatures
    /// and add an Authentication-Results field (RFC 8601) naming `authservID` (`authserv_id`,
    /// default: the hostname).
    public var authenticationResults = false
    public var authservID: String?

    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}
