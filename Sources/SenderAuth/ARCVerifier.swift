import DKIMShim
import Foundation

/// What validating a message's ARC chain found (RFC 8617 §5.2).
public struct ARCVerification: Sendable, Equatable {
    /// none (no ARC sets), pass or fail: the chain validation status, RFC 8601's `arc=` word.
    public var result: String
    /// The number of ARC sets (the highest instance).
    public var instances: Int
    /// Why the chain failed (empty unless it did).
    public var reason: String
    /// True when the newest seal itself says cv=fail: a sealer must not extend such a chain
    /// (RFC 8617 §5.1.2).
    public var sealedAsFailed: Bool

    public static let none = ARCVerification(result: "none", instances: 0, reason: "", sealedAsFailed: false)
}

/// ARC chain validation (RFC 8617 §5.2): the structure, the newest ARC-Message-Signature, then
/// every ARC-Seal from the newest down. Keys come from `key` (looked up beforehand without
/// blocking: `keyNames(of:)`).
public enum ARCVerifier {
    /// The key records validation needs: the newest message signature's and every seal's.
    public static func keyNames(of message: [UInt8]) -> [String] {
        guard case .chain(let chain) = ARCChain.read(RawHeaderField.split(message).fields) else { return [] }
        var names: [String] = []
        for tags in [chain.sets[chain.sets.count - 1].signatureTags] + chain.sets.map(\.sealTags) {
            if let name = keyName(tags), !names.contains(name) { names.append(name) }
        }
        return names
    }

    public static func verify(_ message: [UInt8], key: (String) -> DKIMKeyRecord) -> ARCVerification {
        let (fields, bodyStart) = RawHeaderField.split(message)
        let chain: ARCChain
        switch ARCChain.read(fields) {
        case .none: return .none
        case .broken(let reason):
            return ARCVerification(result: "fail", instances: 0, reason: reason, sealedAsFailed: false)
        case .chain(let found): chain = found
        }
        let count = chain.sets.count
        func fail(_ reason: String, sealedAsFailed: Bool = false) -> ARCVerification {
            ARCVerification(result: "fail", instances: count, reason: reason, sealedAsFailed: sealedAsFailed)
        }
        // The newest seal's own verdict first (§5.2 step 2.B).
        if chain.sets[count - 1].sealTags["cv"]?.lowercased() == "fail" {
            return fail("ARC-Seal i=\(count) says cv=fail", sealedAsFailed: true)
        }
        // The newest message signature (§5.2 step 3).
        let newest = chain.sets[count - 1]
        if let problem = checkMessageSignature(
            newest.signature, tags: newest.signatureTags, fields: fields, body: message[bodyStart...], key: key)
        {
            return fail("ARC-Message-Signature i=\(count): \(problem)")
        }
        // Every seal, newest first (§5.2 steps 5 and 6).
        let canonical = chain.sets.map {
            ARCChain.CanonicalSet(results: $0.results.octets, signature: $0.signature.octets, seal: $0.seal.octets)
        }
        for instance in stride(from: count, through: 1, by: -1) {
            let set = chain.sets[instance - 1]
            let cv = set.sealTags["cv"]?.lowercased()
            guard cv == (instance == 1 ? "none" : "pass") else {
                return fail("ARC-Seal i=\(instance) has cv=\(cv ?? "(missing)")")
            }
            guard set.sealTags["a"]?.lowercased() == "rsa-sha256" else {
                return fail("ARC-Seal i=\(instance): algorithm not rsa-sha256")
            }
            if set.sealTags["h"] != nil { return fail("ARC-Seal i=\(instance) has an h= tag") }
            if let problem = checkSignature(set.sealTags, input: ARCChain.sealInput(canonical[..<instance]), key: key) {
                return fail("ARC-Seal i=\(instance): \(problem)")
            }
        }
        return ARCVerification(result: "pass", instances: count, reason: "", sealedAsFailed: false)
    }

    private static func checkMessageSignature(
        _ field: RawHeaderField, tags: SignatureTagList, fields: [RawHeaderField], body: ArraySlice<UInt8>,
        key: (String) -> DKIMKeyRecord
    ) -> String? {
        guard tags["a"]?.lowercased() == "rsa-sha256" else { return "algorithm not rsa-sha256" }
        let canon = (tags["c"] ?? "simple/simple").lowercased().split(separator: "/").map(String.init)
        guard (1...2).contains(canon.count), let headerMode = DKIMCanonicalization(rawValue: canon[0]),
            let bodyMode = DKIMCanonicalization(rawValue: canon.count == 2 ? canon[1] : "simple")
        else { return "unknown canonicalization" }
        guard let headerList = tags["h"] else { return "no h= tag" }
        let signedNames = headerList.split(separator: ":").map { String($0.trimmingFoldingWhiteSpace()).lowercased() }
        guard signedNames.count <= SenderAuthLimits.maxSignedHeaderNames else { return "too many signed fields" }
        guard !signedNames.contains("arc-seal") else { return "it signs ARC-Seal" }
        guard let bodyHash = tags.compact("bh").flatMap({ Data(base64Encoded: $0) }) else { return "bad bh= tag" }
        var canonicalBody = MessageCanonicalizer.body(body, bodyMode)
        if let limit = tags["l"] {
            guard let length = Int(limit), length >= 0, length <= canonicalBody.count else { return "bad l= tag" }
            canonicalBody = Array(canonicalBody.prefix(length))
        }
        guard Data(sha256(canonicalBody)) == bodyHash else { return "body hash mismatch" }
        let input = MessageCanonicalizer.signedHeaders(
            fields: fields, signedNames: signedNames, signatureField: field.octets, mode: headerMode)
        return checkSignature(tags, input: input, key: key)
    }

    /// Nil when the b= signature over `input` verifies with the key that d= and s= name.
    private static func checkSignature(
        _ tags: SignatureTagList, input: [UInt8], key: (String) -> DKIMKeyRecord
    ) -> String? {
        guard let name = keyName(tags) else { return "no usable d= and s=" }
        guard let signature = tags.compact("b").flatMap({ Data(base64Encoded: $0) }), !signature.isEmpty else {
            return "bad b= tag"
        }
        let record: String
        switch key(name) {
        case .found(let text): record = text
        case .notFound: return "no key at \(name)"
        case .temporaryFailure: return "key look-up for \(name) failed"
        }
        guard let keyTags = SignatureTagList(Array(record.utf8)[...]) else { return "malformed key record" }
        if let kind = keyTags["k"], kind.lowercased() != "rsa" { return "key is not RSA" }
        guard let publicKey = keyTags.compact("p") else { return "key record without p=" }
        guard !publicKey.isEmpty else { return "key revoked" }
        guard let der = Data(base64Encoded: publicKey) else { return "key is not base64" }
        var bits: UInt32 = 0
        let verdict = der.withUnsafeBytes { key in
            signature.withUnsafeBytes { signature in
                input.withUnsafeBytes { data in
                    impulse_rsa_sha256_verify(
                        key.bindMemory(to: UInt8.self).baseAddress, key.count,
                        data.bindMemory(to: UInt8.self).baseAddress,
                        data.count, signature.bindMemory(to: UInt8.self).baseAddress, signature.count, &bits)
                }
            }
        }
        if verdict < 0 { return "unusable key" }
        if bits < SenderAuthLimits.minRSAKeyBits { return "key of \(bits) bits is too short" }
        return verdict == 1 ? nil : "signature does not verify"
    }

    static func keyName(_ tags: SignatureTagList) -> String? {
        guard let selector = tags["s"], let domain = tags["d"] else { return nil }
        return DKIMKeyNames.keyName(domain: domain, selector: selector)
    }

    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let size = data.withUnsafeBufferPointer { impulse_digest(0, $0.baseAddress, $0.count, &digest) }
        return Array(digest.prefix(Int(size)))
    }
}
