import ImpulseConfig
import NIOCore
import SMTPProtocol

/// Postfix's XCLIENT from a trusted proxy: the session starts again as the client it names —
/// that client's Peer policy, relay control, logs, Received: and policy session — and is greeted
/// anew (the connect callouts run for it first).
extension SMTPServerHandler {
    func restart(as identity: XClientIdentity, context: ChannelHandlerContext) {
        let address = identity.address ?? machine.clientAddress
        let policy = policyForClient?(address) ?? machine.policy
        let proxy = clientLabel
        if policySessionOpen, let policyState {
            policySessionOpen = false
            if let failure = policyState.closeSession(sessionID) { logPolicyFailure(failure) }
        }
        machine = machine.restarted(as: identity, policy: policy)
        framer = CommandLineFramer(maxLineLength: policy.limits.maxCommandLineLength)
        var extra: [(String, String)] = []
        if let helo = identity.helo { extra += [("ehlo_string", helo), ("ehlo_domain", helo)] }
        if let login = identity.login {
            extra += [("auth_user", login), ("auth_name", "XCLIENT"), ("auth_status", "pass")]
        }
        openPolicySession(context: context, extra: extra)
        logger.info(
            "xclient: the session continues as the proxy's client",
            metadata: ["proxy": "\(proxy)", "client": "\(clientLabel)", "name": "\(identity.name ?? "")"])
        perform(machine.start(), context: context)
    }
}
