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

/// Signs messages with libopendkim (RFC 6376; Ed25519 per RFC 8463).
public enum DKIMSigner {
    /// The `DKIM-Signature:` header field for `message` (its header section, the empty line and
    /// the body, with CRLF line ends: exactly what the next hop receives), ending in CRLF.
    public static func sign(
        _ message: [UInt8], with request: DKIMSigningRequest, library: DKIMLibrary
    ) throws(DKIMError) -> String {
        if request.key.isEd25519 != (request.algorithm == .ed25519SHA256) {
            throw DKIMError(
                status: 9,
                message: "digest \(request.algorithm.rawValue) does not match the key \(request.key.origin)")
        }
        var error = [CChar](repeating: 0, count: 512)
        var signature: UnsafeMutablePointer<CChar>?
        let status = message.withUnsafeBufferPointer { bytes in
            request.key.text.withUnsafeBufferPointer { key in
                impulse_dkim_sign(
                    library.handle, bytes.baseAddress, bytes.count, key.baseAddress, key.count, request.selector,
                    request.domain, request.identity, request.headerCanonicalization == .relaxed ? 1 : 0,
                    request.bodyCanonicalization == .relaxed ? 1 : 0, request.algorithm.libraryCode, &signature,
                    &error, error.count)
            }
        }
        guard status == 0, let signature else {
            throw DKIMError(status: status, message: String(buffer: error))
        }
        defer { free(signature) }
        return "DKIM-Signature: " + String(cString: signature) + "\r\n"
    }
}
