import CLibCrypto
import Foundation
import ImpulseConfig
import NIOConcurrencyHelpers
import SMTPServer

/// Who may use one HTTP_Listener socket, and how often (docs/http-api.md, authentication):
/// HTTP Basic (RFC 7617) against `AuthBasicParameters`, bearer tokens (RFC 6750) against
/// `AuthBearerParameters`, and `request_rate` for the socket as a whole.
package final class HTTPAccess: Sendable {
    package let settings: HTTPListenerSettings
    private let clock = NIOLockedValueBox<Double>(0)
    /// Basic credentials that passed a crypt(3) check lately (SHA-256 of user and password →
    /// when): a client sending the same credentials on every request costs one hash per minute.
    private let verified = NIOLockedValueBox<[String: Date]>([:])
    private static let verifiedCapacity = 1000
    private static let verifiedFor: TimeInterval = 60

    package init(settings: HTTPListenerSettings) { self.settings = settings }

    /// Who a request is.
    package enum Identity: Sendable, Equatable {
        /// No credentials sent.
        case anonymous
        /// Valid credentials: the user (Basic) or the token's label (bearer), and the scheme.
        case user(String, scheme: String)
        /// Credentials sent and wrong.
        case refused
    }

    /// Takes one request from the socket's allowance (GCRA: `count` per `seconds`, bursts up to
    /// `count`); false when the client should come back later (429).
    package func admit(now: Double = Date().timeIntervalSinceReferenceDate) -> Bool {
        let interval = Double(settings.requestRate.seconds) / Double(settings.requestRate.count)
        let burst = Double(settings.requestRate.seconds)
        return clock.withLockedValue { theoretical in
            let next = max(theoretical, now) + interval
            guard next - now <= burst else { return false }
            theoretical = next
            return true
        }
    }

    /// The identity the `Authorization` field proves. Basic credentials checked against a
    /// crypt(3) hash cost CPU: call this off the event loops.
    package func identify(authorization: String?) -> Identity {
        guard let authorization else { return .anonymous }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return .refused }
        let credentials = parts[1].trimmingCharacters(in: .whitespaces)
        switch parts[0].lowercased() {
        case "basic":
            guard let users = settings.basicUsers, credentials.utf8.count <= 2048,
                let decoded = Data(base64Encoded: credentials).flatMap({ String(data: $0, encoding: .utf8) }),
                let colon = decoded.firstIndex(of: ":")
            else { return .refused }
            let user = String(decoded[..<colon])
            let password = String(decoded[decoded.index(after: colon)...])
            let key = Self.sha256Hex(user + "\u{0}" + password)
            let now = Date()
            if let when = verified.withLockedValue({ $0[key] }), now.timeIntervalSince(when) < Self.verifiedFor {
                return .user(user, scheme: "basic")
            }
            guard
                case .accepted = PasswordCheck.verify(
                    SASLCredentials(user: user, proof: .password(password)), in: users)
            else { return .refused }
            verified.withLockedValue { cache in
                if cache.count >= Self.verifiedCapacity { cache.removeAll() }
                cache[key] = now
            }
            return .user(user, scheme: "basic")
        case "bearer":
            guard let tokens = settings.bearerTokens, credentials.utf8.count <= 1024 else { return .refused }
            let presented = Array(credentials.utf8)
            let digest = Array(Self.sha256Hex(credentials).utf8)
            var match: String?
            // Every entry is compared, in constant time each, whatever matched.
            for (label, stored) in tokens.entries.sorted(by: { $0.key < $1.key }) {
                guard case .clear(let token) = stored else { continue }
                let equal =
                    token.hasPrefix("sha256:")
                    ? PasswordCheck.equal(digest, Array(token.dropFirst(7).lowercased().utf8))
                    : PasswordCheck.equal(presented, Array(token.utf8))
                if equal && match == nil { match = label }
            }
            return match.map { .user($0, scheme: "bearer") } ?? .refused
        default:
            return .refused
        }
    }

    /// True when no credentials are configured or needed for a client at `address` to inject:
    /// without `enable_authentication`, loopback clients only (no open relay by default).
    package func mayInjectAnonymously(from address: String?) -> Bool {
        guard !settings.enableAuthentication, let address else { return false }
        return address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }

    static func sha256Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &digest) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
