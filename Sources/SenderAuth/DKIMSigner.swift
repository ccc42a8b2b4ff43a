import DKIMShim
import Foundation

/// What to sign a message with (RFC 6376 §3.5): the signing domain (`d=`), selector (`s=`), key,
/// canonicalisations, algorithm and optional agent identity (`i=`).
public struct DKIMSigningRequest: Sendable, Equatable {
    public var domain: String
    public var selector: String
    public var key: DKIMPrivateKey
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    public var algorithm: DKIMAlgorithm
    public var identity: String?

    public init(
        domain: String, selector: String, key: DKIMPrivateKey,
        headerCanonicalization: DKIMCanonicalization = .simple, bodyCanonicalization: DKIMCanonicalization = .simple,
        algorithm: DKIMAlgorithm = .rsaSHA256, identity: String? = nil
    ) {
        self.domain = domain
        self.selector = selector
        self.key = key
        self.headerCanonicalization = headerCanonicalization
        self.bodyCanonicalization = bodyCanonicalization
        self.algorithm = algorithm
        self.identity = identity
    }
}

/// Makes DKIM-Signature fields (RFC 6376 §5; ed25519-sha256 per RFC 8463) with a key decoded
/// once: canonicalisation by `MessageCanonicalizer`, the signature by OpenSSL. Why this is not
/// libopendkim's signing (which decodes the PEM key again for every signature): docs/dkim.md.
public enum DKIMSigner {
    /// The `DKIM-Signature:` header field for `message` (its header section, the empty line and
    /// the body, with CRLF line ends: exactly what the next hop receives), ending in CRLF.
    public static func sign(
        _ message: [UInt8], with request: DKIMSigningRequest, settings: DKIMSigningSettings = DKIMSigningSettings(),
        timestamp: Int = Int(Date().timeIntervalSince1970)
    ) throws(DKIMError) -> String {
        if request.key.isEd25519 != (request.algorithm == .ed25519SHA256) {
            throw DKIMError(
                status: 9,
                message: "digest \(request.algorithm.rawValue) does not match the key \(request.key.origin)")
        }
        // Everything below goes into the field verbatim: no value may end it or add a line.
        guard DKIMKeyNames.keyName(domain: request.domain, selector: request.selector) != nil else {
            throw DKIMError(
                status: 5, message: "'\(request.selector)' and '\(request.domain)' make no DKIM key name")
        }
        if let identity = request.identity, !identity.isEmpty {
            try checkIdentity(identity, domain: request.domain)
        }
        let (fields, bodyStart) = RawHeaderField.split(message)
        let body = MessageCanonicalizer.body(message[bodyStart...], request.bodyCanonicalization)
        let bodyHash = Data(digest(body, sha1: request.algorithm == .rsaSHA1)).base64EncodedString()

        let signedFields = fields.filter { settings.signs($0.name) }
        let signedNames = signedFields.map(\.name) + settings.oversignHeaders.map { $0.lowercased() }
        guard signedFields.contains(where: { $0.name == "from" }) else {
            throw DKIMError(status: 5, message: "the message has no From: field to sign (RFC 6376 §5.4)")
        }
        var field = FoldedTagList(start: "DKIM-Signature: ")
        field.add("v=1")
        field.add("a=\(request.algorithm.rawValue)")
        field.add("c=\(request.headerCanonicalization.rawValue)/\(request.bodyCanonicalization.rawValue)")
        field.add("d=\(request.domain)")
        field.add("s=\(request.selector)")
        field.add("t=\(timestamp)")
        if settings.signatureLifetime > 0 { field.add("x=\(timestamp + settings.signatureLifetime)") }
        if let identity = request.identity, !identity.isEmpty { field.add("i=\(identity)") }
        if settings.bodyLengthTag { field.add("l=\(body.count)") }
        field.add("h=", signedNames, separator: ":")
        field.add("bh=\(bodyHash)")
        if settings.copyHeaders { field.add("z=", signedFields.map(copied), separator: "|") }
        field.startSignature()

        let input = MessageCanonicalizer.signedHeaders(
            fields: fields, signedNames: signedNames, signatureField: Array(field.text.utf8)[...],
            mode: request.headerCanonicalization)
        let signature = try request.key.decoded.sign(input, algorithm: request.algorithm)
        field.addSignature(Data(signature).base64EncodedString())
        return field.text + "\r\n"
    }

    /// `i=` (RFC 6376 §3.5): an address-like identity (the local-part may be empty) in the
    /// signing domain or one of its subdomains.
    static func checkIdentity(_ identity: String, domain: String) throws(DKIMError) {
        guard let at = identity.lastIndex(of: "@"),
            identity.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != ";" })
        else { throw DKIMError(status: 5, message: "identity '\(identity)' is not an address (i=)") }
        let identityDomain = identity[identity.index(after: at)...].lowercased()
        let signingDomain = domain.lowercased()
        guard identityDomain == signingDomain || identityDomain.hasSuffix("." + signingDomain) else {
            throw DKIMError(status: 5, message: "identity '\(identity)' is not in the signing domain \(domain)")
        }
    }

    /// One signed field as `z=` copies it (RFC 6376 §3.5): name, colon, the unfolded value in
    /// DKIM quoted-printable (§2.11) with `|` encoded too.
    static func copied(_ field: RawHeaderField) -> [String] {
        var units: [String] = [field.name + ":"]
        for octet in field.value where octet != 13 && octet != 10 {
            let safe = (0x21...0x7E).contains(octet) && octet != 0x3B && octet != 0x3D && octet != 0x7C
            units.append(safe ? String(UnicodeScalar(octet)) : String(format: "=%02X", octet))
        }
        return units
    }

    static func digest(_ data: [UInt8], sha1: Bool) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let size = data.withUnsafeBufferPointer { impulse_digest(sha1 ? 1 : 0, $0.baseAddress, $0.count, &digest) }
        return Array(digest.prefix(Int(size)))
    }
}
