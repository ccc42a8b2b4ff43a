import Foundation
import ImpulseConfig
import NIOCore
import SMTPProtocol
import Scriptlet
import Spool

/// STARTTLS and implicit TLS as the dialogue sees them (RFC 3207 §4.2: the session starts over),
/// and draining at shutdown.
extension SMTPSessionStateMachine {
    /// The TLS handshake completed: forget everything said before it (RFC 3207 §4.2).
    /// An implicit-TLS connection's handshake finished: only what it negotiated is recorded (the
    /// session began at connect; its phase — a connect callout may still be deciding — stays).
    public mutating func implicitTLSEstablished(description: String) {
        tlsDescription = description
    }

    /// STARTTLS's handshake finished: the session starts over (RFC 3207 §4.2).
    public mutating func tlsEstablished(description: String) {
        tlsActive = true
        tlsDescription = description
        heloName = nil
        extendedMode = false
        transaction = nil
        phase = .command
    }

    /// The server is stopping: finish the current transaction, refuse new ones.
    /// Returns the reply to send now if the session is idle.
    public mutating func beginDraining() -> SMTPReply? {
        draining = true
        if phase == .command && transaction == nil {
            phase = .closed
            return .shuttingDown(bannerName)
        }
        return nil
    }

    /// The client was silent too long.
    /// The session outlived `max_session_duration`.
    public mutating func lifetimeExceeded() -> SMTPReply {
        phase = .closed
        return .sessionTooLong(bannerName)
    }

    public mutating func timedOut() -> SMTPReply {
        phase = .closed
        return .timeoutExceeded(bannerName)
    }
}
