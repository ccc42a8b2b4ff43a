import Foundation
import ImpulseConfig
import Resolver
import SMTPProtocol

/// The work behind msys.validate.opendkim.sign and .verify, on a thread that may block (key
/// files are read, keys looked up through the resolver).
public enum ScriptDKIM {
    /// A DKIM-Signature field for `message`: the script's `options` (Momentum's names) over the
    /// opendkim stanza's `defaults`; the signing domain defaults to the responsible domain (the
    /// Sender: field's, else From:'s). Keys named by path (`keyfile`) are read once into `keys`.
    public static func sign(
        _ message: [UInt8], options: [String: String], defaults: DKIMSigningConfiguration.Options?,
        keys: DKIMKeyCache
    ) -> Result<String, DKIMSigningFailure> {
        let base = defaults ?? DKIMSigningConfiguration.Options()
        let signer: (domain: String, selector: String, key: DKIMPrivateKey)
        switch signingKey(message, options: options, base: base, keys: keys) {
        case .success(let found): signer = found
        case .failure(let failure): return .failure(failure)
        }
        let domain = signer.domain
        func failure(_ text: String) -> Result<String, DKIMSigningFailure> {
            .failure(DKIMSigningFailure(domain: domain, message: text))
        }
        let (selector, key) = (signer.selector, signer.key)
        var merged = base
        if let list = options["headerlist"] {
            merged.headerList = headerNames(list)
        }
        if let limit = options["body_length_limit"] { merged.bodyLengthLimit = !["0", "false", ""].contains(limit) }
        let digestName = options["digest"] ?? base.digest
        guard
            let algorithm = digestName.map(DKIMAlgorithm.init(rawValue:))
                ?? (key.isEd25519 ? .ed25519SHA256 : .rsaSHA256)
        else { return failure("unknown digest \(digestName ?? "")") }
        var canonicalizations: [DKIMCanonicalization] = []
        for name in [options["header_canon"] ?? base.headerCanon, options["body_canon"] ?? base.bodyCanon] {
            guard let canonicalization = DKIMCanonicalization(rawValue: name ?? "simple") else {
                return failure("unknown canonicalization \(name ?? "")")
            }
            canonicalizations.append(canonicalization)
        }
        let request = DKIMSigningRequest(
            domain: domain, selector: selector, key: key, headerCanonicalization: canonicalizations[0],
            bodyCanonicalization: canonicalizations[1], algorithm: algorithm,
            identity: options["identity"] ?? base.identity)
        do {
            return .success(
                try DKIMSigner.sign(message, with: request, settings: DKIMSigningPolicy.signingSettings(merged)))
        } catch {
            return failure(error.message)
        }
    }

    /// The signing domain, selector and key a script's options name, over the stanza's
    /// `base`: the domain defaults to the responsible domain (the Sender: field's, else From:'s);
    /// a key named by path (`keyfile`, `key`) is read once into `keys`, `keybuf` holds one.
    static func signingKey(
        _ message: [UInt8], options: [String: String], base: DKIMSigningConfiguration.Options, keys: DKIMKeyCache
    ) -> Result<(domain: String, selector: String, key: DKIMPrivateKey), DKIMSigningFailure> {
        let headerEnd = message.withUnsafeBytes { HeaderSection.emptyLineOffset(in: $0) } ?? message.count
        let responsible = DKIMSigningPolicy.responsibleDomain(headerSection: Array(message[..<headerEnd]))
        guard let domain = options["base_domain"] ?? options["signing_domain"] ?? responsible else {
            return .failure(
                DKIMSigningFailure(domain: "?", message: "no signing domain (base_domain, or a From: address)"))
        }
        guard let selector = options["selector"] ?? base.selector else {
            return .failure(DKIMSigningFailure(domain: domain, message: "no selector"))
        }
        do {
            if let text = options["keybuf"] {
                return .success((domain, selector, try DKIMPrivateKey(pem: Array(text.utf8), origin: "(keybuf)")))
            } else if let template = options["keyfile"] ?? options["key"] ?? base.key {
                let key = try keys.key(at: DKIMSigningPolicy.expand(template, domain: domain, selector: selector))
                return .success((domain, selector, key))
            }
            return .failure(DKIMSigningFailure(domain: domain, message: "no key (keyfile or keybuf)"))
        } catch {
            return .failure(DKIMSigningFailure(domain: domain, message: error.message))
        }
    }

    /// Verifies `message`. Keys come from `prefetched` (looked up beforehand without blocking:
    /// `DKIMKeyNames`); a key not there is looked up through `resolver` here, waiting (the
    /// thread may block). No resolver: such a look-up fails for now.
    public static func verify(
        _ message: [UInt8], resolver: DNSResolver?, prefetched: [String: DKIMKeyRecord] = [:]
    ) -> Result<DKIMVerification, DKIMError> {
        let library: DKIMLibrary
        do { library = try DKIMLibrary.verifying() } catch { return .failure(error) }
        return .success(
            DKIMVerifier.verify(
                message, library: library, keyLookup: keyLookup(resolver: resolver, prefetched: prefetched)))
    }

    /// A key record by name: from `prefetched` when it is there, else through `resolver`,
    /// waiting; without a resolver, a temporary failure.
    static func keyLookup(resolver: DNSResolver?, prefetched: [String: DKIMKeyRecord]) -> (String) -> DKIMKeyRecord {
        { name in
            if let known = prefetched[name.lowercased()] { return known }
            guard let resolver else { return .temporaryFailure }
            return DKIMKeyNames.record(from: resolver.lookup(name, type: .txt))
        }
    }

    /// A script's `headerlist` string: names separated by commas, spaces or colons.
    static func headerNames(_ list: String) -> [String] {
        list.split(whereSeparator: { $0 == "," || $0 == " " || $0 == ":" }).map(String.init)
    }
}
