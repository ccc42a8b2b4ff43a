/// The `spf` stanza: SPF (RFC 7208) at MAIL FROM, for the MAIL FROM identity and, optionally,
/// the HELO identity. The results go into the message context (`spf_status`, as Momentum's SPF
/// module names it, and `spf_helo_status`), a Received-SPF field and Authentication-Results.
public struct SPFConfiguration: Sendable, Equatable {
    public var location: SourceLocation
    /// `helo`: also check the HELO identity (RFC 7208 §2.3).
    public var checkHelo = true
    /// `received_spf`: add a Received-SPF field (RFC 7208 §9.1) to each message.
    public var receivedSPF = true
    /// `reject_fail`: answer MAIL FROM with 550 5.7.23 when the result is fail (RFC 7372 §3.2)
    /// instead of leaving the decision to scripts.
    public var rejectFail = false
    public var authenticationResults = false
    public var authservID: String?

    public init(location: SourceLocation) { self.location = location }
}

/// The `dmarc` stanza: DMARC (RFC 7489) for each received message, from its SPF and DKIM
/// results and the From: domain's published policy.
public struct DMARCConfiguration: Sendable, Equatable {
    public enum Enforcement: String, Sendable, Equatable {
        /// Results go into the context and Authentication-Results; nothing is refused.
        case reportOnly = "report_only"
        /// A message whose domain asks for reject is refused with 550 5.7.1 at the end of DATA.
        case enforce
    }

    public var location: SourceLocation
    public var enforcement = Enforcement.reportOnly
    /// The public suffix list organisational domains come from (RFC 7489 §3.2).
    public var publicSuffixList = "/usr/share/publicsuffix/public_suffix_list.dat"
    public var authenticationResults = false
    public var authservID: String?

    public init(location: SourceLocation) { self.location = location }
}
