/// The `opendkim` stanza (Momentum's opendkim module) and its `dkim_domain` scopes.
extension Binder {
    /// Options an `opendkim` or `dkim_domain` scope may set.
    static let dkimOptionNames =
        "header_canon, body_canon, digest, headerlist, oversign_headerlist, skip_headerlist, key, selector, "
        + "identity, sign_condition, body_length_limit, copy_headers, lifetime, keycache_size, pos_keycache_ttl, "
        + "neg_keycache_ttl, testing"

    mutating func bindOpenDKIM(_ scope: ConfigScope, existing: DKIMSigningConfiguration?) -> DKIMSigningConfiguration {
        if let existing {
            error(scope.location, "a second opendkim stanza (the first is at \(existing.location))")
        }
        var configuration = DKIMSigningConfiguration(name: scope.instance ?? "opendkim", location: scope.location)
        var stanzaOptions = scope
        stanzaOptions.options = []
        for option in scope.options {
            do throws(ConfigError) {
                switch option.name {
                case "authentication_results": configuration.authenticationResults = try OptionReader.bool(option)
                case "authserv_id": configuration.authservID = try Self.authservID(option)
                default: stanzaOptions.options.append(option)
                }
            } catch { record(error) }
        }
        configuration.defaults = bindDKIMOptions(
            stanzaOptions, inDomain: false, failureAction: &configuration.failureAction)
        var ignored = DKIMSigningConfiguration.FailureAction.deliverUnsigned
        for child in scope.scopes {
            guard child.keyword == "dkim_domain", let domain = child.instance, !domain.isEmpty else {
                error(
                    child.location,
                    "'\(child.spelling)' is not valid inside \(scope.displayName) (expected dkim_domain \"example.com\")"
                )
                continue
            }
            for inner in child.scopes {
                error(inner.location, "'\(inner.spelling)' is not valid inside \(child.displayName)")
            }
            let options = bindDKIMOptions(child, inDomain: true, failureAction: &ignored)
                .over(configuration.defaults)
            if configuration.domains[domain.lowercased()] != nil {
                error(child.location, "a second \(child.displayName) in \(scope.displayName)")
            }
            if options.selector == nil {
                error(child.location, "\(child.displayName) has no selector (set selector here or in the stanza)")
            }
            if options.key == nil {
                error(child.location, "\(child.displayName) has no key (set key here or in the stanza)")
            }
            configuration.domains[domain.lowercased()] = options
        }
        if configuration.defaults.selector != nil && configuration.defaults.key == nil {
            error(scope.location, "\(scope.displayName) sets a selector but no key")
        }
        return configuration
    }

    private mutating func bindDKIMOptions(
        _ scope: ConfigScope, inDomain: Bool,
        failureAction: inout DKIMSigningConfiguration.FailureAction
    ) -> DKIMSigningConfiguration.Options {
        var options = DKIMSigningConfiguration.Options()
        let canonicalizations = [("simple", "simple"), ("relaxed", "relaxed")]
        for option in scope.options {
            do {
                switch option.name {
                case "header_canon": options.headerCanon = try OptionReader.choice(option, canonicalizations)
                case "body_canon": options.bodyCanon = try OptionReader.choice(option, canonicalizations)
                case "digest":
                    options.digest = try OptionReader.choice(
                        option,
                        [("rsa-sha256", "rsa-sha256"), ("rsa-sha1", "rsa-sha1"), ("ed25519-sha256", "ed25519-sha256")])
                case "headerlist": options.headerList = try headerNames(option)
                case "oversign_headerlist": options.oversignHeaderList = try headerNames(option)
                case "skip_headerlist": options.skipHeaderList = try headerNames(option)
                case "key":
                    options.key = try OptionReader.path(option)
                    options.keyLocation = option.value.location
                case "selector":
                    var selectors: [String] = []
                    for (text, location) in try OptionReader.list(option) {
                        selectors.append(try dnsLabel(text, location: location, option: option))
                    }
                    options.selectors = selectors
                case "base_domain" where inDomain:
                    options.baseDomain = try dnsLabel(
                        OptionReader.scalar(option), location: option.value.location, option: option)
                case "base_domain":
                    error(option.location, "'\(option.spelling)' is only valid inside a dkim_domain scope")
                case "identity": options.identity = try OptionReader.scalar(option)
                case "sign_condition": options.signCondition = try OptionReader.scalar(option)
                case "body_length_limit": options.bodyLengthLimit = try OptionReader.bool(option)
                case "copy_headers": options.copyHeaders = try OptionReader.bool(option)
                case "lifetime": options.lifetimeHours = try OptionReader.integer(option, in: 0...(24 * 366))
                // Verification keys are cached by the resolver's cache, which honours their TTLs.
                case "keycache_size": _ = try OptionReader.integer(option, in: 0...10_000_000)
                case "pos_keycache_ttl", "neg_keycache_ttl": _ = try OptionReader.integer(option, in: 0...(86400 * 7))
                case "testing": _ = try OptionReader.bool(option)
                case "signing_failure" where !inDomain:
                    failureAction = try OptionReader.choice(
                        option, [("deliver_unsigned", .deliverUnsigned), ("tempfail", .tempfail)])
                default:
                    error(
                        option.location,
                        "unknown option '\(option.spelling)' in \(scope.displayName) (\(Self.dkimOptionNames)"
                            + (inDomain ? ", base_domain)" : ", signing_failure, authentication_results, authserv_id)"))
                }
            } catch { record(error) }
        }
        return options
    }

    private func headerNames(_ option: ConfigOption) throws(ConfigError) -> [String] {
        var names: [String] = []
        for (text, location) in try OptionReader.list(option) {
            // Momentum accepts a comma- or space-separated list in one string as well.
            for name in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
                guard name.allSatisfy({ $0.isASCII && $0 != ":" && !$0.isWhitespace && !$0.isNewline }) else {
                    throw ConfigError(location, "'\(name)' in '\(option.spelling)' is not a header field name")
                }
                names.append(String(name))
            }
        }
        return names
    }

    private func dnsLabel(_ text: String, location: SourceLocation, option: ConfigOption) throws(ConfigError) -> String
    {
        guard !text.isEmpty, text.count <= 253,
            text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") })
        else {
            throw ConfigError(location, "'\(option.spelling)' expects a DNS name such as example.com, found '\(text)'")
        }
        return text
    }
}
