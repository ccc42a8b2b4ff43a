import ImpulseConfig

/// What is checked about who sent each received message: SPF at MAIL FROM, DKIM signatures and
/// DMARC at the end of DATA, and whether one Authentication-Results field (RFC 8601) reports them.
package struct ReceptionAuthentication: Sendable {
    /// The spf stanza; SPF is also checked (without its own fields) when only dmarc asks for it.
    package var spf: SPFConfiguration?
    package var dmarc: DMARCConfiguration?
    /// SPF results are needed (the spf or the dmarc stanza).
    package var checksSPF: Bool
    /// DKIM signatures are verified (opendkim's authentication_results, or DMARC).
    package var verifiesDKIM: Bool
    /// Some stanza asked for an Authentication-Results field.
    package var authenticationResults: Bool
    package var authservID: String?

    /// Nil when the configuration checks nothing.
    package init?(_ configuration: ImpulseConfiguration) {
        spf = configuration.spf
        dmarc = configuration.dmarc
        checksSPF = spf != nil || dmarc != nil
        verifiesDKIM = configuration.dkimSigning?.authenticationResults == true || dmarc != nil
        authenticationResults =
            configuration.dkimSigning?.authenticationResults == true || spf?.authenticationResults == true
            || dmarc?.authenticationResults == true
        authservID = configuration.dkimSigning?.authservID ?? spf?.authservID ?? dmarc?.authservID
        guard checksSPF || verifiesDKIM else { return nil }
    }
}
