import CLibCrypto
import CLibXCrypt
import ImpulseConfig

/// Checks SASL credentials against a `file://` password file (docs/smtp-auth.md): clear-text
/// passwords compared in constant time, crypt(3) hashes through the system's libcrypt (slow by
/// design: call it off the event loops), CRAM-MD5 digests recomputed from a clear-text password.
package enum PasswordCheck {
    package static func verify(_ credentials: SASLCredentials, in file: PasswordFile)
        -> SMTPSessionStateMachine.AuthVerdict
    {
        guard let stored = file.entries[credentials.user] else { return .rejected(tooWeak: false) }
        switch (credentials.proof, stored) {
        case (.password(let given), .clear(let expected)):
            return equal(Array(given.utf8), Array(expected.utf8))
                ? .accepted(user: credentials.user) : .rejected(tooWeak: false)
        case (.password(let given), .hashed(let hash)):
            switch impulse_crypt_matches(given, hash) {
            case 1: return .accepted(user: credentials.user)
            case 0: return .rejected(tooWeak: false)
            default: return .temporaryFailure
            }
        case (.cramMD5(let challenge, let digest), .clear(let password)):
            var hex = [CChar](repeating: 0, count: 33)
            let computed = password.withCString { key in
                challenge.withCString { text in
                    impulse_cram_md5(key, strlen(key), text, strlen(text), &hex)
                }
            }
            guard computed == 1 else { return .temporaryFailure }
            let expected = hex.prefix(32).map { UInt8(bitPattern: $0) }
            return equal(Array(digest.utf8), expected) ? .accepted(user: credentials.user) : .rejected(tooWeak: false)
        case (.cramMD5, .hashed):
            // RFC 4954 §6: the mechanism is too weak for this user (only a hash is kept).
            return .rejected(tooWeak: true)
        }
    }

    /// Constant time for equal lengths.
    package static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
