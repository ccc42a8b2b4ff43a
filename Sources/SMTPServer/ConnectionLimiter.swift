import ImpulseConfig
import NIOConcurrencyHelpers

/// Counts open sessions per Listen socket, per Peer block and per client address, and refuses
/// those over `listener_sessions` / `listener_sessions_per_ip` (`421 4.4.5`).
public final class ConnectionLimiter: Sendable {
    private struct Counts {
        var perListener: [String: Int] = [:]
        var perBlock: [String: Int] = [:]
        var perAddress: [IPAddress: Int] = [:]
    }

    private let counts = NIOLockedValueBox(Counts())

    public init() {}

    /// A slot taken; give it back with `release`.
    public struct Ticket: Sendable {
        let listener: String
        let block: String?
        let address: IPAddress
    }

    /// Takes a slot, or returns nil when a limit is reached.
    public func acquire(listener: String, block: CIDRBlock?, address: IPAddress, policy: InboundPolicy) -> Ticket? {
        let blockKey = block.map { "\(listener)|\($0)" }
        return counts.withLockedValue { counts in
            // Inside a Peer, listener_sessions is that block's own budget (Momentum's rule).
            let sessionKey = blockKey ?? listener
            let current = (blockKey != nil ? counts.perBlock[sessionKey] : counts.perListener[sessionKey]) ?? 0
            if policy.listenerSessions > 0 && current >= policy.listenerSessions { return nil }
            if policy.listenerSessionsPerIP > 0
                && counts.perAddress[address, default: 0] >= policy.listenerSessionsPerIP
            {
                return nil
            }
            if let blockKey {
                counts.perBlock[blockKey, default: 0] += 1
            } else {
                counts.perListener[listener, default: 0] += 1
            }
            counts.perAddress[address, default: 0] += 1
            return Ticket(listener: listener, block: blockKey, address: address)
        }
    }

    /// Open sessions from addresses in `block` (ac:inbound_session_count).
    public func sessions(in block: CIDRBlock) -> Int {
        counts.withLockedValue { counts in
            counts.perAddress.reduce(0) { total, entry in block.contains(entry.key) ? total + entry.value : total }
        }
    }

    public func release(_ ticket: Ticket) {
        counts.withLockedValue { counts in
            if let block = ticket.block {
                counts.perBlock[block, default: 1] -= 1
                if counts.perBlock[block] == 0 { counts.perBlock[block] = nil }
            } else {
                counts.perListener[ticket.listener, default: 1] -= 1
            }
            counts.perAddress[ticket.address, default: 1] -= 1
            if counts.perAddress[ticket.address] == 0 { counts.perAddress[ticket.address] = nil }
        }
    }
}
