import Foundation
import ImpulseConfig
import Synchronization

/// Failed SMTP AUTH attempts per client address, across sessions: each failure within
/// `window` of the last makes the next 535 wait longer (a second more each time, at most
/// `maxDelay`), so guessing passwords is slow from any one address, while one mistyped password
/// costs nothing. A success forgets the address. At most `capacity` addresses are kept (the
/// quietest go first), so a peer cannot grow it without bound.
package final class AuthFailureTracker: Sendable {
    package static let window = 900.0
    package static let maxDelay = 10.0
    package static let capacity = 10_000

    private struct Entry {
        var failures: Int
        var last: Double
    }

    private let entries = Mutex([IPAddress: Entry]())

    package init() {}

    /// Counts a failure from `client`; the seconds its reply should wait.
    package func failed(_ client: IPAddress, now: Double = Date().timeIntervalSince1970) -> Double {
        entries.withLock { entries in
            var entry =
                entries[client].flatMap { now - $0.last < Self.window ? $0 : nil } ?? Entry(failures: 0, last: now)
            entry.failures += 1
            entry.last = now
            if entries[client] == nil, entries.count >= Self.capacity {
                let stale = entries.filter { now - $0.value.last >= Self.window }.map(\.key)
                for key in stale { entries[key] = nil }
                if entries.count >= Self.capacity, let quietest = entries.min(by: { $0.value.last < $1.value.last }) {
                    entries[quietest.key] = nil
                }
            }
            entries[client] = entry
            return min(Double(entry.failures - 1), Self.maxDelay)
        }
    }

    /// Failures from `client` within `window` of its last one.
    package func recentFailures(_ client: IPAddress, now: Double = Date().timeIntervalSince1970) -> Int {
        entries.withLock { entries in entries[client].map { now - $0.last < Self.window ? $0.failures : 0 } ?? 0 }
    }

    /// A success from `client`: its count starts again.
    package func succeeded(_ client: IPAddress) { _ = entries.withLock { $0.removeValue(forKey: client) } }
}
