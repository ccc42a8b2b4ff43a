import ImpulseConfig
import SMTPProtocol

/// Who a trusted proxy says the client is (Postfix's XCLIENT): what is not given stays as it was.
public struct XClientIdentity: Sendable, Equatable {
    public var address: IPAddress?
    public var port: Int?
    /// The client's reverse DNS name (for logs), HELO name, protocol (SMTP or ESMTP) and SASL
    /// login name (the session is then the authenticated user's).
    public var name: String?
    public var helo: String?
    public var proto: String?
    public var login: String?

    /// The EHLO keyword's parameters: the attributes Impulse takes.
    static let advertised = "NAME ADDR PORT PROTO HELO LOGIN"
}

extension SMTPSessionStateMachine {
    /// XCLIENT: only from a scope whose `smtp_extensions` lists it, never inside a transaction.
    /// `[UNAVAILABLE]` and `[TEMPUNAVAIL]` leave an attribute as it was.
    package mutating func xclient(_ attributes: [XClientAttribute]) -> Action {
        guard policy.xclientAllowed else { return failure(.xclientNotAuthorized) }
        guard transaction == nil else { return failure(.xclientInTransaction) }
        var identity = XClientIdentity()
        for attribute in attributes {
            let value = attribute.value
            if value == "[UNAVAILABLE]" || value == "[TEMPUNAVAIL]" { continue }
            switch attribute.name {
            case "ADDR":
                let text = value.uppercased().hasPrefix("IPV6:") ? String(value.dropFirst(5)) : value
                guard let address = IPAddress(text) else { return failure(.xclientBadAddress) }
                identity.address = address
            case "PORT":
                guard let port = Int(value), (0...65535).contains(port) else { return failure(.xclientBadAddress) }
                identity.port = port
            case "NAME": identity.name = value
            case "HELO": identity.helo = value
            case "PROTO": identity.proto = value.uppercased()
            case "LOGIN": identity.login = value
            default: break
            }
        }
        phase = .consulting
        return .xclient(identity)
    }

    /// The session as the client XCLIENT named: a new state machine for that client under
    /// `policy` (its Peer policy), keeping the connection's TLS.
    public func restarted(as identity: XClientIdentity, policy: InboundPolicy) -> SMTPSessionStateMachine {
        var next = SMTPSessionStateMachine(
            policy: policy, hostname: hostname, clientAddress: identity.address ?? clientAddress,
            clientPort: identity.port ?? clientPort, listener: listener, tlsAvailable: tlsAvailable,
            tlsActive: tlsActive, idGenerator: idGenerator, policyCallouts: policyCallouts)
        next.tlsDescription = tlsDescription
        next.checksSender = checksSender
        if let helo = identity.helo {
            next.heloName = helo
            next.extendedMode = identity.proto != "SMTP"
        }
        if let login = identity.login {
            next.authenticatedUser = login
            next.clientMayRelay = true
        }
        return next
    }
}
