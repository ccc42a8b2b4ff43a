import DKIMShim
import Foundation

/// What an ARC set is sealed with.
public struct ARCSealRequest: Sendable {
    public var domain: String
    public var selector: String
    public var key: DKIMPrivateKey
    /// The authserv-id of the ARC-Authentication-Results field (RFC 8617 §4.1.1).
    public var authservID: String
    /// The results it records (RFC 8601 resinfo, e.g. `spf=pass smtp.mailfrom=…`); `arc=` with
    /// the chain's status is put first.
    public var results: [String]
    /// Header fields the ARC-Message-Signature signs, those present in the message.
    public var signedHeaders: [String]
    public var timestamp: Int

    public static let defaultSignedHeaders = [
        "from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
        "mime-version", "content-type", "content-transfer-encoding", "list-id", "list-unsubscribe",
        "list-unsubscribe-post", "dkim-signature"
    ]

    public init(
        domain: String, selector: String, key: DKIMPrivateKey, authservID: String, results: [String],
        signedHeaders: [String] = ARCSealRequest.defaultSignedHeaders,
        timestamp: Int = Int(Date().timeIntervalSince1970)
    ) {
        self.domain = domain
        self.selector = selector
        self.key = key
        self.authservID = authservID
        self.results = results
        self.signedHeaders = signedHeaders
        self.timestamp = timestamp
    }
}

/// Adds an ARC set to a message (RFC 8617 §5.1): ARC-Authentication-Results,
/// ARC-Message-Signature (relaxed/relaxed, rsa-sha256) and ARC-Seal, with the chain validation
/// status of the chain as received.
public enum ARCSealer {
    /// The three fields to put at the top of `message` (CRLF after each), or nil when the chain
    /// must not be extended (the newest seal says cv=fail, or 50 sets already). `chain` is what
    /// ARCVerifier found for the message.
    public static func seal(_ message: [UInt8], chain: ARCVerification, request: ARCSealRequest) throws(DKIMError)
        -> String?
    {
        if chain.sealedAsFailed || chain.instances >= SenderAuthLimits.maxARCInstances { return nil }
        guard !request.key.isEd25519 else {
            throw DKIMError(
                status: 9, message: "ARC seals with rsa-sha256 only; \(request.key.origin) is an Ed25519 key")
        }
        // What goes into the fields verbatim: a domain and selector that make a key name, an
        // authserv-id and results without control characters (no line of the script's making).
        guard DKIMKeyNames.keyName(domain: request.domain, selector: request.selector) != nil else {
            throw DKIMError(status: 5, message: "ARC: '\(request.selector)' and '\(request.domain)' make no key name")
        }
        guard !request.authservID.isEmpty,
            request.authservID.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ";" && $0 != "\"" })
        else { throw DKIMError(status: 5, message: "ARC: the authserv-id '\(request.authservID)' is not a host name") }
        guard request.results.allSatisfy({ !$0.unicodeScalars.contains { $0.value < 0x20 } }) else {
            throw DKIMError(status: 5, message: "ARC: control characters in the results")
        }
        let instance = chain.instances + 1
        let (fields, bodyStart) = RawHeaderField.split(message)
        let results = (["arc=\(chain.result)"] + request.results).joined(separator: ";\r\n\t")
        let resultsField = "ARC-Authentication-Results: i=\(instance); \(request.authservID);\r\n\t\(results)"

        let present = Set(fields.map(\.name))
        let signed = request.signedHeaders.map { $0.lowercased() }.filter { present.contains($0) }
        let bodyHash = Data(ARCVerifier.sha256(MessageCanonicalizer.body(message[bodyStart...], .relaxed)))
            .base64EncodedString()
        let unsignedSignature =
            "ARC-Message-Signature: i=\(instance); a=rsa-sha256; c=relaxed/relaxed; d=\(request.domain);\r\n"
            + "\ts=\(request.selector); t=\(request.timestamp);\r\n\th=\(signed.joined(separator: ":"));\r\n"
            + "\tbh=\(bodyHash);\r\n\tb="
        let signatureInput = MessageCanonicalizer.signedHeaders(
            fields: fields, signedNames: signed, signatureField: Array(unsignedSignature.utf8)[...], mode: .relaxed)
        let signatureField = unsignedSignature + folded(try sign(signatureInput, key: request.key))

        let unsignedSeal =
            "ARC-Seal: i=\(instance); a=rsa-sha256; t=\(request.timestamp); cv=\(chain.result);\r\n"
            + "\td=\(request.domain); s=\(request.selector);\r\n\tb="
        // A seal over a chain that passed covers every set; one that reports cv=fail covers
        // only its own, as the chain before it cannot be vouched for (what dkimpy and OpenARC do).
        var sets: [ARCChain.CanonicalSet] = []
        if chain.result == "pass", case .chain(let existing) = ARCChain.read(fields) {
            sets = existing.sets.map {
                ARCChain.CanonicalSet(results: $0.results.octets, signature: $0.signature.octets, seal: $0.seal.octets)
            }
        }
        sets.append(
            ARCChain.CanonicalSet(
                results: Array(resultsField.utf8)[...], signature: Array(signatureField.utf8)[...],
                seal: Array(unsignedSeal.utf8)[...]))
        let sealField = unsignedSeal + folded(try sign(ARCChain.sealInput(sets[...]), key: request.key))
        return sealField + "\r\n" + signatureField + "\r\n" + resultsField + "\r\n"
    }

    private static func sign(_ input: [UInt8], key: DKIMPrivateKey) throws(DKIMError) -> String {
        do {
            return Data(try key.decoded.sign(input, algorithm: .rsaSHA256)).base64EncodedString()
        } catch {
            throw DKIMError(status: error.status, message: "ARC: \(key.origin): \(error.message)")
        }
    }

    /// A base64 value broken into lines of 72 (folding white space, ignored in b=).
    private static func folded(_ base64: String) -> String {
        var lines: [Substring] = []
        var rest = Substring(base64)
        while !rest.isEmpty {
            lines.append(rest.prefix(72))
            rest = rest.dropFirst(72)
        }
        return lines.joined(separator: "\r\n\t")
    }
}
