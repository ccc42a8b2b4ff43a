import NIOCore
import SMTPProtocol

/// SMTP AUTH (RFC 4954): the AUTH command, its exchange of challenges and responses, and what a
/// verdict on the credentials answers. The credentials are checked by the handler
/// (`Action.authenticate`, then `authenticationDecided`).
extension SMTPSessionStateMachine {
    /// How a check of credentials ended.
    public enum AuthVerdict: Sendable, Equatable {
        /// Valid: the session is now `user`'s.
        case accepted(user: String)
        /// Not valid (535), or not with this mechanism for this user (534).
        case rejected(tooWeak: Bool)
        /// The back-end could not answer (454).
        case temporaryFailure
    }

    /// Failed AUTH attempts one session may make; the next failure closes it.
    static let maxAuthFailures = 3

    /// The mechanisms EHLO offers now: PLAIN and LOGIN only under TLS unless `auth_without_tls`
    /// (RFC 4954 §4: a password is not sent in clear text).
    public var offeredMechanisms: [SASLMechanism] {
        policy.authMechanisms.filter { !$0.sendsPassword || tlsActive || policy.authWithoutTLS }
    }

    package mutating func auth(mechanism: String, initialResponse: String?) -> Action {
        let configured = policy.authMechanisms
        guard !configured.isEmpty else { return failure(.authNotAvailable) }
        guard extendedMode else { return failure(.authNeedsEHLO) }
        guard authenticatedUser == nil else { return failure(.authAlreadyDone) }
        guard transaction == nil else { return failure(.authInTransaction) }
        guard let chosen = SASLMechanism(rawValue: mechanism), configured.contains(chosen) else {
            return failure(.authMechanismUnknown)
        }
        guard offeredMechanisms.contains(chosen) else { return failure(.authEncryptionRequired) }
        var exchange = SASLExchange(mechanism: chosen, hostname: hostname)
        let step = exchange.start(initialResponse: initialResponse)
        return advance(exchange, step)
    }

    /// A line received inside an AUTH exchange.
    package mutating func receiveAuthResponse(_ line: ByteBuffer) -> Action {
        guard var exchange = authExchange else {
            phase = .command
            return .reply(.badSequence)
        }
        let text = String(decoding: line.readableBytesView, as: UTF8.self)
        let step = exchange.respond(text)
        return advance(exchange, step)
    }

    private mutating func advance(_ exchange: SASLExchange, _ step: SASLExchange.Step) -> Action {
        switch step {
        case .challenge(let text):
            phase = .authenticating
            authExchange = exchange
            return .reply(.authChallenge(text))
        case .failed(let reply):
            phase = .command
            authExchange = nil
            return failure(reply)
        case .credentials(let credentials):
            phase = .consulting
            authExchange = nil
            return .authenticate(exchange.mechanism, credentials)
        }
    }

    /// The verdict on the credentials of `mechanism`.
    public mutating func authenticationDecided(_ verdict: AuthVerdict, mechanism: SASLMechanism) -> Action {
        phase = .command
        switch verdict {
        case .accepted(let user):
            authenticatedUser = user
            authenticatedMechanism = mechanism
            clientMayRelay = true
            return .reply(.authSucceeded)
        case .rejected(let tooWeak):
            authFailures += 1
            if authFailures >= Self.maxAuthFailures { return closeWith(.tooManyAuthFailures) }
            return failure(tooWeak ? .authMechanismTooWeak : .authInvalid)
        case .temporaryFailure:
            return failure(.authTemporaryFailure)
        }
    }
}
