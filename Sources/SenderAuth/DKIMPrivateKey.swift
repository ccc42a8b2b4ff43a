import DKIMShim
import Foundation

/// A DKIM signing key: an RSA key (PEM, PKCS#1 or PKCS#8) or an Ed25519 key (PEM PKCS#8), decoded
/// once by OpenSSL and kept decoded; checked by signing a probe message, so a key that cannot
/// sign is refused when it is loaded, not when mail arrives.
public struct DKIMPrivateKey: Sendable, Equatable {
    /// The key's PEM text.
    let text: [UInt8]
    /// Where it came from (for messages): a path, or "(script)".
    public let origin: String
    /// The decoded key.
    let decoded: DecodedSigningKey

    /// Reads and checks the key at `path`.
    public static func load(path: String) throws(DKIMError) -> DKIMPrivateKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DKIMError(status: 3, message: "cannot read DKIM key \(path)")
        }
        return try DKIMPrivateKey(pem: Array(data), origin: path)
    }

    /// A key given as text: PEM, or (Momentum's `keybuf`) the base64 body of a PEM key without
    /// its BEGIN/END lines and line breaks.
    public init(pem: [UInt8], origin: String) throws(DKIMError) {
        var text = pem
        if !text.contains(UInt8(ascii: "-")) {
            let base64 = text.filter { !$0.isWhitespaceASCII }
            var lines: [UInt8] = Array("-----BEGIN PRIVATE KEY-----\n".utf8)
            var index = 0
            while index < base64.count {
                lines += base64[index..<min(index + 64, base64.count)] + [UInt8(ascii: "\n")]
                index += 64
            }
            lines += Array("-----END PRIVATE KEY-----\n".utf8)
            // PKCS#1 RSA keys (what Momentum's keybuf examples hold) have their own label.
            if Self.looksLikePKCS1(base64) {
                lines = Array(
                    String(decoding: lines, as: UTF8.self).replacingOccurrences(
                        of: "PRIVATE KEY", with: "RSA PRIVATE KEY"
                    ).utf8)
            }
            text = lines
        }
        self.text = text
        self.origin = origin
        do {
            decoded = try DecodedSigningKey(pem: text)
            _ = try DKIMSigner.sign(
                Array("From: probe@probe.invalid\r\n\r\nprobe\r\n".utf8),
                with: DKIMSigningRequest(
                    domain: "probe.invalid", selector: "probe", key: self,
                    algorithm: decoded.isEd25519 ? .ed25519SHA256 : .rsaSHA256))
        } catch {
            throw DKIMError(status: error.status, message: "DKIM key \(origin) cannot sign: \(error.message)")
        }
    }

    /// The key's kind: Ed25519 keys sign with ed25519-sha256 only (RFC 8463).
    public var isEd25519: Bool { decoded.isEd25519 }

    /// The key's size in bits.
    public var bits: Int { decoded.bits }

    /// PKCS#1's DER starts SEQUENCE, INTEGER 0, INTEGER (the modulus); PKCS#8's carries an
    /// algorithm identifier after the version instead.
    static func looksLikePKCS1(_ base64: [UInt8]) -> Bool {
        guard let der = Data(base64Encoded: Data(base64.prefix(16))), der.count >= 9 else { return false }
        let bytes = [UInt8](der)
        // 30 82 xx xx 02 01 00 02 ...
        return bytes[0] == 0x30 && bytes[4] == 0x02 && bytes[5] == 0x01 && bytes[6] == 0x00 && bytes[7] == 0x02
    }

    public static func == (lhs: DKIMPrivateKey, rhs: DKIMPrivateKey) -> Bool { lhs.text == rhs.text }
}

/// A private key as OpenSSL decoded it (impulse_signing_key.h), freed with its last user. It is
/// only read after it is made, and OpenSSL lets several threads sign with one key at once.
final class DecodedSigningKey: Sendable {
    nonisolated(unsafe) let handle: OpaquePointer
    let isEd25519: Bool
    let bits: Int

    init(pem: [UInt8]) throws(DKIMError) {
        var kind: Int32 = 0
        var bits: UInt32 = 0
        var error = [CChar](repeating: 0, count: 128)
        let made = pem.withUnsafeBufferPointer {
            impulse_signing_key_load($0.baseAddress, $0.count, &kind, &bits, &error, error.count)
        }
        guard let made else { throw DKIMError(status: 9, message: String(buffer: error)) }
        handle = made
        isEd25519 = kind == Int32(IMPULSE_KEY_ED25519)
        self.bits = Int(bits)
    }

    /// The signature of `data` with `algorithm` (RSASSA-PKCS1-v1_5 with its hash, or Ed25519 over
    /// the data's SHA-256 as RFC 8463 §3 has it).
    func sign(_ data: [UInt8], algorithm: DKIMAlgorithm) throws(DKIMError) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 2048)
        var error = [CChar](repeating: 0, count: 128)
        let length = data.withUnsafeBufferPointer {
            impulse_signing_key_sign(
                handle, algorithm.libraryCode, $0.baseAddress, $0.count, &signature, signature.count, &error,
                error.count)
        }
        guard length > 0 else { throw DKIMError(status: 7, message: String(buffer: error)) }
        return Array(signature.prefix(length))
    }

    deinit { impulse_signing_key_free(handle) }
}

extension UInt8 {
    var isWhitespaceASCII: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
