import Foundation
import ImpulseConfig
import SMTPProtocol

/// What the opendkim stanza decided for one message, on the event loop: sign for this domain
/// once per selector, each with the key at its path (read, if it is not yet, where the signing
/// runs).
public struct DKIMSigningPlan: Sendable {
    public var domain: String
    public var keys: [(selector: String, path: String)]
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    /// The configured digest; nil: the key's kind decides.
    public var digest: DKIMAlgorithm?
    public var identity: String?
    public var settings: DKIMSigningSettings
    /// The responsible domain the plan was made for (for logs).
    public var responsibleDomain: String
}

/// Why a message that should be signed was not.
public struct DKIMSigningFailure: Error, Sendable, CustomStringConvertible {
    public var domain: String
    public var message: String
    public var description: String { "DKIM signing for \(domain) failed: \(message)" }

    public init(domain: String, message: String) {
        self.domain = domain
        self.message = message
    }
}

/// The `opendkim` stanza at work: which messages are signed, for which domain, with which key
/// (Momentum's opendkim module). Keys named by `dkim_domain` scopes are loaded and checked when
/// the configuration loads; keys whose path depends on the message's domain (`%{d}`) are loaded
/// on first use and kept.
public final class DKIMSigningPolicy: Sendable {
    public let configuration: DKIMSigningConfiguration
    /// Keys by expanded path.
    private let keys = DKIMKeyCache()

    public var failureAction: DKIMSigningConfiguration.FailureAction { configuration.failureAction }

    /// Loads every key the configuration names outright; a key that cannot be read or cannot sign
    /// is an error at the line that set it.
    public init(_ configuration: DKIMSigningConfiguration) throws(ConfigError) {
        self.configuration = configuration
        var diagnostics: [ConfigDiagnostic] = []
        for (domain, options) in configuration.domains.sorted(by: { $0.key < $1.key }) {
            guard let template = options.key else { continue }
            for selector in options.selectors ?? [] {
                let path = Self.expand(template, domain: options.baseDomain ?? domain, selector: selector)
                let location = options.keyLocation ?? configuration.location
                do {
                    let key = try DKIMPrivateKey.load(path: path)
                    if let digest = options.digest, key.isEd25519 != (digest == DKIMAlgorithm.ed25519SHA256.rawValue) {
                        diagnostics.append(
                            ConfigDiagnostic(
                                .error, location,
                                "dkim_domain \"\(domain)\": digest \(digest) does not fit the key \(path)"))
                    }
                    keys.keep(key, at: path)
                } catch {
                    diagnostics.append(
                        ConfigDiagnostic(.error, location, "dkim_domain \"\(domain)\": \(error.message)"))
                }
            }
        }
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
    }

    /// `%{d}` → the signing domain, `%{s}` → the selector (Momentum's key path variables).
    static func expand(_ template: String, domain: String, selector: String) -> String {
        template.replacingOccurrences(of: "%{d}", with: domain).replacingOccurrences(of: "%{s}", with: selector)
    }

    static func signingSettings(_ options: DKIMSigningConfiguration.Options) -> DKIMSigningSettings {
        var settings = DKIMSigningSettings()
        settings.headers = options.headerList ?? []
        settings.oversignHeaders = options.oversignHeaderList ?? []
        settings.skipHeaders = options.skipHeaderList ?? []
        settings.signatureLifetime = (options.lifetimeHours ?? 0) * 3600
        settings.bodyLengthTag = options.bodyLengthLimit ?? false
        settings.copyHeaders = options.copyHeaders ?? false
        return settings
    }

    /// Whether and how to sign a message with this header section, on the event loop (cheap:
    /// reads two header fields and the context; no file is read). `contextValue` answers for the
    /// session's validation context (sign_condition). nil: not signed.
    public func plan(
        headerSection: [UInt8], contextValue: (String) -> String?
    ) -> Result<DKIMSigningPlan, DKIMSigningFailure>? {
        guard let responsible = Self.responsibleDomain(headerSection: headerSection) else { return nil }
        let options: DKIMSigningConfiguration.Options
        if let scoped = configuration.domains[responsible] {
            options = scoped
        } else if configuration.defaults.selector != nil {
            options = configuration.defaults
        } else {
            return nil
        }
        if let condition = options.signCondition {
            guard let value = contextValue(condition), !value.isEmpty, value != "false", value != "0" else {
                return nil
            }
        }
        guard let selectors = options.selectors, !selectors.isEmpty, let template = options.key else { return nil }
        let domain = options.baseDomain ?? responsible
        return .success(
            DKIMSigningPlan(
                domain: domain,
                keys: selectors.map { ($0, Self.expand(template, domain: domain, selector: $0)) },
                headerCanonicalization: options.headerCanon == "relaxed" ? .relaxed : .simple,
                bodyCanonicalization: options.bodyCanon == "relaxed" ? .relaxed : .simple,
                digest: options.digest.flatMap(DKIMAlgorithm.init(rawValue:)), identity: options.identity,
                settings: Self.signingSettings(options), responsibleDomain: responsible))
    }

    /// Signs `message` as planned, once per selector: the fields in the order the selectors are
    /// listed (the first goes on top). Reads a key on its first use (file I/O and CPU work: run it
    /// off the event loops). A key that fails fails the whole signing: a message is not sent with
    /// part of the signatures the operator configured.
    public func sign(_ message: [UInt8], plan: DKIMSigningPlan) -> Result<[String], DKIMSigningFailure> {
        var fields: [String] = []
        for (selector, path) in plan.keys {
            let key: DKIMPrivateKey
            do {
                key = try keys.key(at: path)
            } catch {
                return .failure(DKIMSigningFailure(domain: plan.domain, message: error.message))
            }
            // With several selectors the keys may differ in kind: a digest that does not fit a key
            // gives way to the key's own algorithm (keys named outright are checked at load).
            var algorithm = key.isEd25519 ? DKIMAlgorithm.ed25519SHA256 : .rsaSHA256
            if let digest = plan.digest, (digest == .ed25519SHA256) == key.isEd25519 { algorithm = digest }
            let request = DKIMSigningRequest(
                domain: plan.domain, selector: selector, key: key,
                headerCanonicalization: plan.headerCanonicalization, bodyCanonicalization: plan.bodyCanonicalization,
                algorithm: algorithm, identity: plan.identity)
            do {
                fields.append(try DKIMSigner.sign(message, with: request, settings: plan.settings))
            } catch {
                return .failure(DKIMSigningFailure(domain: plan.domain, message: error.message))
            }
        }
        return .success(fields)
    }

    /// The domain responsible for a message: the Sender: field's address's, else From:'s (the
    /// domain Momentum's opendkim module signs for).
    public static func responsibleDomain(headerSection: [UInt8]) -> String? {
        let fields = HeaderFieldReader(headerSection)
        return (fields.value(of: "sender") ?? fields.value(of: "from")).flatMap(domain(of:))
    }

    /// The domain of the first address in a From:/Sender: value ("Name <a@b>", "a@b", "a@b (c)").
    static func domain(of value: String) -> String? {
        var address = Substring(value)
        if let open = value.firstIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
            address = value[value.index(after: open)..<close]
        } else if let comma = value.firstIndex(of: ",") {
            address = value[..<comma]
        }
        if let comment = address.firstIndex(of: "(") { address = address[..<comment] }
        guard let at = address.lastIndex(of: "@") else { return nil }
        let domain = address[address.index(after: at)...].trimmingCharacters(in: .whitespaces).lowercased()
        guard !domain.isEmpty, domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            return nil
        }
        return domain
    }
}
