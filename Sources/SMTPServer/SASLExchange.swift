import Foundation
import SMTPProtocol

/// What a client proved in a finished SASL exchange.
public struct SASLCredentials: Sendable, Equatable {
    public enum Proof: Sendable, Equatable {
        /// PLAIN and LOGIN: the password itself.
        case password(String)
        /// CRAM-MD5 (RFC 2195): the challenge sent and the HMAC-MD5 digest (hex) the client
        /// computed over it with its password.
        case cramMD5(challenge: String, digest: String)
    }

    /// The authentication identity: who the password belongs to.
    public var user: String
    /// PLAIN's authorization identity (empty: the same as `user`).
    public var authorizationID: String
    public var proof: Proof

    package init(user: String, authorizationID: String = "", proof: Proof) {
        self.user = user
        self.authorizationID = authorizationID
        self.proof = proof
    }
}

/// One AUTH exchange on the server side (RFC 4954 §4): the challenges to send and the
/// client's responses, decoded into credentials. PLAIN (RFC 4616), LOGIN (two prompts:
/// "Username:", "Password:") and CRAM-MD5 (RFC 2195). Handles untrusted network input: every
/// response is bounded and checked.
package struct SASLExchange {
    package enum Step: Equatable {
        /// Send this challenge (base64; empty for an empty one) in a 334 and wait for a response.
        case challenge(String)
        /// The exchange is complete: check these.
        case credentials(SASLCredentials)
        /// The exchange failed with this reply (bad base64, malformed, cancelled).
        case failed(SMTPReply)
    }

    /// Octets of a user name and of a password at most.
    static let maxUser = 256
    static let maxPassword = 1024

    package let mechanism: SASLMechanism
    /// CRAM-MD5's challenge (`<random.time@host>`, RFC 2195 §2).
    let cramChallenge: String
    private var loginUser: String?

    package init(mechanism: SASLMechanism, hostname: String) {
        self.mechanism = mechanism
        let random = UInt64.random(in: 0...UInt64.max)
        cramChallenge = "<\(random).\(Int(Date().timeIntervalSince1970))@\(hostname)>"
    }

    /// The first step, with the AUTH command's initial response (nil: none was sent).
    package mutating func start(initialResponse: String?) -> Step {
        switch mechanism {
        case .plain:
            guard let initialResponse else { return .challenge("") }
            return respond(initialResponse)
        case .login:
            // Some clients send the user name as an initial response.
            guard let initialResponse else { return .challenge(Self.base64("Username:")) }
            return respond(initialResponse)
        case .cramMD5:
            // RFC 2195: the server speaks first; an initial response is a protocol error.
            guard initialResponse == nil else { return .failed(.authBadEncoding) }
            return .challenge(Self.base64(cramChallenge))
        }
    }

    /// A response line from the client: `*` cancels (RFC 4954 §4), `=` is an empty response.
    package mutating func respond(_ line: String) -> Step {
        if line == "*" { return .failed(.authCancelled) }
        guard let decoded = Self.decode(line) else { return .failed(.authBadEncoding) }
        switch mechanism {
        case .plain:
            // message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 §2)
            let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let authzid = Self.text(parts[0], max: Self.maxUser),
                let user = Self.text(parts[1], max: Self.maxUser), !user.isEmpty,
                let password = Self.text(parts[2], max: Self.maxPassword), !password.isEmpty
            else { return .failed(.authBadEncoding) }
            return .credentials(SASLCredentials(user: user, authorizationID: authzid, proof: .password(password)))
        case .login:
            if let loginUser {
                guard let password = Self.text(decoded[...], max: Self.maxPassword), !password.isEmpty else {
                    return .failed(.authBadEncoding)
                }
                return .credentials(SASLCredentials(user: loginUser, authorizationID: "", proof: .password(password)))
            }
            guard let user = Self.text(decoded[...], max: Self.maxUser), !user.isEmpty else {
                return .failed(.authBadEncoding)
            }
            loginUser = user
            return .challenge(Self.base64("Password:"))
        case .cramMD5:
            // "user SP digest", the digest 32 lower-case hex digits (RFC 2195 §2).
            guard let text = Self.text(decoded[...], max: Self.maxUser + 33),
                let space = text.lastIndex(of: " ")
            else { return .failed(.authBadEncoding) }
            let user = String(text[..<space])
            let digest = String(text[text.index(after: space)...]).lowercased()
            guard !user.isEmpty, digest.utf8.count == 32, digest.allSatisfy(\.isHexDigit) else {
                return .failed(.authBadEncoding)
            }
            return .credentials(
                SASLCredentials(
                    user: user, authorizationID: "", proof: .cramMD5(challenge: cramChallenge, digest: digest)))
        }
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// Strict base64 (`=` alone is the empty response); nil when it is not.
    static func decode(_ line: String) -> [UInt8]? {
        if line == "=" { return [] }
        guard !line.isEmpty, line.utf8.count % 4 == 0, let data = Data(base64Encoded: line) else { return nil }
        return Array(data)
    }

    /// UTF-8 text without NUL, CR or LF, at most `max` octets.
    static func text(_ octets: ArraySlice<UInt8>, max: Int) -> String? {
        guard octets.count <= max, !octets.contains(where: { $0 == 0 || $0 == 13 || $0 == 10 }) else { return nil }
        return String(validating: octets, as: UTF8.self)
    }
}
