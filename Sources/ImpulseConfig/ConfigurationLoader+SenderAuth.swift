import Foundation

/// The `spf` and `dmarc` stanzas.
extension Binder {
    mutating func bindSPF(_ scope: ConfigScope, existing: SPFConfiguration?) -> SPFConfiguration {
        if let existing { error(scope.location, "a second spf stanza (the first is at \(existing.location))") }
        var configuration = SPFConfiguration(location: scope.location)
        for option in scope.options {
            do throws(ConfigError) {
                switch option.name {
                case "helo": configuration.checkHelo = try OptionReader.bool(option)
                case "received_spf": configuration.receivedSPF = try OptionReader.bool(option)
                case "reject_fail": configuration.rejectFail = try OptionReader.bool(option)
                case "authentication_results": configuration.authenticationResults = try OptionReader.bool(option)
                case "authserv_id": configuration.authservID = try Self.authservID(option)
                default:
                    throw ConfigError(
                        option.location,
                        "unknown option '\(option.spelling)' in \(scope.displayName) (expected helo, received_spf, "
                            + "reject_fail, authentication_results, authserv_id)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        return configuration
    }

    mutating func bindDMARC(_ scope: ConfigScope, existing: DMARCConfiguration?) -> DMARCConfiguration {
        if let existing { error(scope.location, "a second dmarc stanza (the first is at \(existing.location))") }
        var configuration = DMARCConfiguration(location: scope.location)
        var listLocation = scope.location
        for option in scope.options {
            do throws(ConfigError) {
                switch option.name {
                case "enforcement":
                    configuration.enforcement = try OptionReader.choice(
                        option, [("report_only", .reportOnly), ("enforce", .enforce)])
                case "public_suffix_list":
                    configuration.publicSuffixList = try OptionReader.path(option)
                    listLocation = option.value.location
                case "authentication_results": configuration.authenticationResults = try OptionReader.bool(option)
                case "authserv_id": configuration.authservID = try Self.authservID(option)
                default:
                    throw ConfigError(
                        option.location,
                        "unknown option '\(option.spelling)' in \(scope.displayName) (expected enforcement, "
                            + "public_suffix_list, authentication_results, authserv_id)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        // Organisational domains come from this list; without it DMARC cannot be evaluated.
        if !FileManager.default.isReadableFile(atPath: configuration.publicSuffixList) {
            error(listLocation, "cannot read the public suffix list '\(configuration.publicSuffixList)'")
        }
        return configuration
    }

    /// An authserv-id (RFC 8601 §2.5): a host name, without white space, `;` or quotes.
    static func authservID(_ option: ConfigOption) throws(ConfigError) -> String {
        let id = try OptionReader.scalar(option)
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ";" && $0 != "\"" }) else {
            throw ConfigError(option.value.location, "'\(option.spelling)' expects a host name, found '\(id)'")
        }
        return id
    }

    /// The stanzas that name an authserv-id must agree: Impulse adds one Authentication-Results
    /// field for everything it checked.
    mutating func checkAuthservIDs(_ config: ImpulseConfiguration) {
        var first: (String, SourceLocation)?
        let named: [(String?, SourceLocation?)] = [
            (config.dkimSigning?.authservID, config.dkimSigning?.location),
            (config.spf?.authservID, config.spf?.location),
            (config.dmarc?.authservID, config.dmarc?.location)
        ]
        for case (let id?, let location?) in named {
            if let first, first.0.lowercased() != id.lowercased() {
                error(location, "authserv_id '\(id)' differs from '\(first.0)' set at \(first.1)")
            } else if first == nil {
                first = (id, location)
            }
        }
    }
}
