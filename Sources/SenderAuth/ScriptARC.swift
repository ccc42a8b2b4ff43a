import Foundation
import ImpulseConfig
import Resolver

/// The work behind msys.validate.openarc.verify and .sign, on a thread that may block (key
/// files are read; keys not found among those looked up beforehand are looked up here).
public enum ScriptARC {
    /// Validates `message`'s ARC chain. Keys come from `prefetched` (`ARCVerifier.keyNames`,
    /// looked up without blocking), else through `resolver`, waiting.
    public static func verify(
        _ message: [UInt8], resolver: DNSResolver?, prefetched: [String: DKIMKeyRecord] = [:]
    ) -> ARCVerification {
        ARCVerifier.verify(message, key: ScriptDKIM.keyLookup(resolver: resolver, prefetched: prefetched))
    }

    /// What sealing came to: the three fields to put on top of the message, or nil with the
    /// reason it was not sealed; and the chain as received.
    public struct Outcome: Sendable {
        public var fields: String?
        public var chain: ARCVerification
        public var reason: String
    }

    /// Seals `message` with the script's `options` (signing domain, selector and key as
    /// msys.validate.opendkim.sign names them, over the opendkim stanza's `defaults`;
    /// `authservid`; `headerlist`; `ar`, the results to record, one per line). Validates the
    /// chain first, as RFC 8617 §5.1.2 asks.
    public static func seal(
        _ message: [UInt8], options: [String: String], defaults: DKIMSigningConfiguration.Options?,
        keys: DKIMKeyCache, authservID: String, resolver: DNSResolver?, prefetched: [String: DKIMKeyRecord]
    ) -> Result<Outcome, DKIMSigningFailure> {
        let signer: (domain: String, selector: String, key: DKIMPrivateKey)
        switch ScriptDKIM.signingKey(
            message, options: options, base: defaults ?? DKIMSigningConfiguration.Options(), keys: keys)
        {
        case .success(let found): signer = found
        case .failure(let failure): return .failure(failure)
        }
        let chain = verify(message, resolver: resolver, prefetched: prefetched)
        let results = (options["ar"] ?? "").split(whereSeparator: { $0 == "\n" || $0 == ";" }).map {
            String($0.trimmingFoldingWhiteSpace())
        }.filter { !$0.isEmpty }
        var request = ARCSealRequest(
            domain: signer.domain, selector: signer.selector, key: signer.key,
            authservID: options["authservid"] ?? options["authserv_id"] ?? authservID, results: results)
        if let list = options["headerlist"] {
            request.signedHeaders = ScriptDKIM.headerNames(list).map { $0.lowercased() }
        }
        do {
            guard let fields = try ARCSealer.seal(message, chain: chain, request: request) else {
                let reason =
                    chain.sealedAsFailed
                    ? "the chain already failed (cv=fail)" : "the chain has \(SenderAuthLimits.maxARCInstances) sets"
                return .success(Outcome(fields: nil, chain: chain, reason: reason))
            }
            return .success(Outcome(fields: fields, chain: chain, reason: ""))
        } catch {
            return .failure(DKIMSigningFailure(domain: signer.domain, message: error.message))
        }
    }
}
