import Foundation

/// A DKIM signing key: an RSA key (PEM, PKCS#1 or PKCS#8) or an Ed25519 key (PEM PKCS#8), as
/// OpenSSL and libopendkim read them. Loaded once and kept; checked by signing a probe message,
/// so a key that cannot sign is refused when it is loaded, not when mail arrives.
public struct DKIMPrivateKey: Sendable, Equatable {
    /// The key's text as libopendkim takes it.
    let text: [UInt8]
    /// Where it came from (for messages): a path, or "(script)".
    public let origin: String

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
        let algorithm: DKIMAlgorithm = Self.isEd25519(text) ? .ed25519SHA256 : .rsaSHA256
        do {
            _ = try DKIMSigner.sign(
                Array("From: probe@probe.invalid\r\n\r\nprobe\r\n".utf8),
                with: DKIMSigningRequest(domain: "probe.invalid", selector: "probe", key: self, algorithm: algorithm),
                library: DKIMLibrary.verifying())
        } catch {
            throw DKIMError(status: error.status, message: "DKIM key \(origin) cannot sign: \(error.message)")
        }
    }

    /// The key's kind: Ed25519 keys sign with ed25519-sha256 only (RFC 8463).
    public var isEd25519: Bool { Self.isEd25519(text) }

    /// Told apart by size: an Ed25519 PKCS#8 key's DER is 48 octets (64 characters of base64),
    /// the smallest RSA key libopendkim accepts is over ten times that.
    static func isEd25519(_ text: [UInt8]) -> Bool {
        let body = String(decoding: text, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("-----") }
            .joined()
        return body.count <= 64 && !String(decoding: text, as: UTF8.self).contains("RSA")
    }

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

extension UInt8 {
    var isWhitespaceASCII: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
