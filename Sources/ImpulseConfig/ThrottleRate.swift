import Foundation

/// A rate as Momentum's `outbound_throttle_*` options write it: `"N"` is N per second, `"N/S"`
/// is N per S seconds (Momentum's manual, outbound_throttle_messages).
public struct ThrottleRate: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Events allowed per `seconds`.
    public var count: Int
    public var seconds: Int

    public init(count: Int, seconds: Int) {
        self.count = count
        self.seconds = seconds
    }

    /// `N` or `N/S`, with N in 0…10,000,000 (0: no limit, as in Momentum) and S in 1…86,400
    /// (a day); nil otherwise.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(
            separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let count = Int(parts[0].trimmingCharacters(in: .whitespaces)), (0...10_000_000).contains(count)
        else { return nil }
        var seconds = 1
        if parts.count == 2 {
            guard let value = Int(parts[1].trimmingCharacters(in: .whitespaces)), (1...86_400).contains(value)
            else { return nil }
            seconds = value
        }
        self.init(count: count, seconds: seconds)
    }

    /// Microseconds between two events at this rate (the throttle's emission interval).
    public var intervalMicros: Int64 { Int64(seconds) * 1_000_000 / Int64(max(count, 1)) }

    /// Events that may go at once after a quiet spell: a tenth of a second's worth, at least
    /// one, so a high rate is not held to one event per timer tick while a low one stays evenly
    /// spaced (docs/delivery.md, Throttles).
    public var burst: Int { max(1, count / (seconds * 10)) }

    public var description: String { seconds == 1 ? "\(count)" : "\(count)/\(seconds)" }
}

/// A throttle as the configuration defines it: its rate and the scope that set it. Momentum
/// treats throttles "by reference": every queue whose lookup ends at one scope's setting shares
/// that one throttle (a global `outbound_throttle_messages` limits the whole server; one in
/// `domain "x"` limits x across every binding).
public struct ScopedRate: Sendable, Equatable {
    public var rate: ThrottleRate
    /// Where it is set: `global`, `domain x`, `binding b`, `binding_group g domain /re/`, `host …`.
    public var scope: String

    public init(rate: ThrottleRate, scope: String) {
        self.rate = rate
        self.scope = scope
    }
}
