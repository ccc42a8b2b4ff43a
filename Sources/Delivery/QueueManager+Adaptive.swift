import Foundation
import ImpulseConfig
import OutboundSMTP
import SharedThrottles

extension SMTPClientStateMachine.RecipientOutcome {
    /// The reply of a failure (nil for a delivery).
    var failureText: String? {
        switch self {
        case .delivered: return nil
        case .transient(let text), .permanent(let text): return text
        }
    }
}

/// What the back-off rules did to one queue (binding × domain), kept apart from the queue so
/// that a suspension outlives the idle-queue sweep. Mutated only under the queue manager's lock.
final class AdaptiveState: @unchecked Sendable {
    /// Wall-clock µs; 0: none.
    var suspendedUntil: Int64 = 0
    var blackholedUntil: Int64 = 0
    /// The rule message and reply that caused the suspension or blackhole.
    var reason = ""
    /// The message rate throttle-down set, and until when the adjustments last.
    var rate: ThrottleRate?
    var connectionReduction = 0
    var adjustedUntil: Int64 = 0
    /// Recent match times per rule (at most the rule's trigger count each), with the rule's
    /// window (µs): times older than it no longer count, and are dropped by the expiry sweep.
    var matches: [String: (times: [Int64], window: Int64)] = [:]

    var isIdle: Bool { suspendedUntil == 0 && blackholedUntil == 0 && rate == nil && connectionReduction == 0 }
}

/// One adaptive log record (Momentum's adaptive log layout): binding, domain, level, text.
public struct AdaptiveLogLine: Sendable {
    public var binding: String
    public var domain: String
    public var level: String
    public var text: String
}

/// Response-driven back-off (docs/delivery.md, Adaptive back-off): every failure reply of a
/// queue is matched against the rules for its domain; a rule that reaches its trigger acts on
/// the queue. Suspensions and blackholes hold or fail the queue's work in `pump`; throttle-down
/// and connection reductions change the queue's limits until they expire or an operator resets
/// them (`adaptive reset`).
extension QueueManager {
    /// Runs the rules for `reply` (caller holds the lock); returns a transcoded reply when a rule
    /// says so. Log records go to `log`, written after the lock.
    func adapt(key: QueueKey, reply: String, nowMicros: Int64, log: inout [AdaptiveLogLine]) -> String? {
        var transcoded: String?
        let reply = Self.replyPart(of: reply)
        for rule in adaptiveRules.rules(for: key.domain.lowercased()) where rule.pattern.matches(reply) {
            let state = adaptive[key] ?? AdaptiveState()
            adaptive[key] = state
            let window = Int64(rule.seconds) * 1_000_000
            var times = state.matches[rule.identity]?.times ?? []
            times.append(nowMicros)
            times = times.filter { nowMicros - $0 < window }.suffix(rule.count)
            guard times.count >= rule.count else {
                state.matches[rule.identity] = (times, window)
                continue
            }
            state.matches[rule.identity] = nil
            adaptiveActions += 1
            for action in rule.actions {
                let text = apply(action, to: key, state: state, rule: rule, reply: reply, nowMicros: nowMicros)
                if case .transcode(let replacement) = action { transcoded = replacement }
                log.append(AdaptiveLogLine(binding: key.binding, domain: key.domain, level: "NOTICE", text: text))
            }
            // The first rule that fires decides: later ones would act on the same reply twice.
            break
        }
        return transcoded
    }

    /// The next hop's reply in an outcome's text, without the command it answered
    /// (`MAIL FROM: 421 …` → `421 …`): what rules are written against.
    static func replyPart(of text: String) -> String {
        guard let colon = text.range(of: ": ") else { return text }
        let context = text[..<colon.lowerBound]
        let known = [
            "greeting", "EHLO", "LHLO", "HELO", "STARTTLS", "STARTTLS (required)", "RSET", "MAIL FROM", "RCPT TO",
            "DATA",
            "end of data"
        ]
        return known.contains(String(context)) ? String(text[colon.upperBound...]) : text
    }

    /// Carries out one action; returns its adaptive log text.
    func apply(
        _ action: AdaptiveRules.Action, to key: QueueKey, state: AdaptiveState, rule: AdaptiveRules.Rule,
        reply: String, nowMicros: Int64
    ) -> String {
        let because = "\(rule.message.isEmpty ? "rule \(rule.pattern.text)" : rule.message) (\(reply))"
        let queue = queues[key]
        switch action {
        case .suspend(let seconds):
            state.suspendedUntil = max(state.suspendedUntil, nowMicros + Int64(seconds) * 1_000_000)
            state.reason = because
            return "suspend \(seconds)s: \(because)"
        case .blackhole(let seconds):
            state.blackholedUntil = max(state.blackholedUntil, nowMicros + Int64(seconds) * 1_000_000)
            state.reason = because
            return "blackhole \(seconds)s: \(because)"
        case .throttleDown:
            let current =
                state.rate ?? queue?.messageThrottle?.throttle.rate ?? queue.map(measuredRate)
                ?? ThrottleRate(count: 60, seconds: 60)
            let lowered = Self.halve(current)
            state.rate = lowered
            state.adjustedUntil = nowMicros + Int64(AdaptiveRules.adjustmentLifetime) * 1_000_000
            if let queue { queue.adaptiveThrottle = Throttle(lowered, keeping: queue.adaptiveThrottle) }
            return "outbound_throttle_messages \(current) -> \(lowered): \(because)"
        case .reduceConnections(let count):
            let before = effectiveMaxConnections(key: key, configured: queue?.options.maxOutboundConnections ?? 32)
            state.connectionReduction += count
            state.adjustedUntil = nowMicros + Int64(AdaptiveRules.adjustmentLifetime) * 1_000_000
            let after = effectiveMaxConnections(key: key, configured: queue?.options.maxOutboundConnections ?? 32)
            return "max_outbound_connections \(before) -> \(after): \(because)"
        case .transcode(let replacement):
            return "transcode \"\(reply)\" -> \"\(replacement)\": \(rule.message)"
        }
    }

    /// Half the rate (one an hour at the slowest).
    static func halve(_ rate: ThrottleRate) -> ThrottleRate {
        if rate.count >= 2 { return ThrottleRate(count: rate.count / 2, seconds: rate.seconds) }
        let seconds = rate.seconds * 2
        return seconds >= 3600 ? AdaptiveRules.slowestRate : ThrottleRate(count: 1, seconds: seconds)
    }

    /// The queue's message rate over the last minute (what throttle-down halves when no throttle
    /// is configured).
    func measuredRate(_ queue: DomainQueue) -> ThrottleRate {
        ThrottleRate(count: max(1, max(queue.sentLastWindow, queue.sentThisWindow)), seconds: 60)
    }

    /// max_outbound_connections less what back-off took away (at least one).
    func effectiveMaxConnections(key: QueueKey, configured: Int) -> Int {
        guard !adaptive.isEmpty, let reduction = adaptive[key]?.connectionReduction, reduction > 0 else {
            return configured
        }
        return max(1, configured - reduction)
    }

    /// What `pump` does with a queue the rules hold: suspended work waits (not an attempt),
    /// blackholed work fails. Nil: deliver as usual. Caller holds the lock.
    func adaptiveHold(_ queue: DomainQueue) -> [Start]? {
        guard let state = adaptive[queue.key] else { return nil }
        let nowMicros = Self.nowMicros()
        if state.suspendedUntil > nowMicros {
            while let work = queue.ready.popFirst() { postpone(work, to: queue, at: state.suspendedUntil) }
            return []
        }
        if state.blackholedUntil > nowMicros {
            var starts: [Start] = []
            let reason = "554 5.4.0 [adaptive] \(queue.key.domain) is blackholed: \(state.reason)"
            while let work = queue.ready.popFirst() { starts.append(.fail(queue, work, reason)) }
            return starts
        }
        return nil
    }

    /// Whether a suspension or blackhole holds the queue now (caller holds the lock).
    func isHeldByBackoff(_ key: QueueKey) -> Bool {
        guard !adaptive.isEmpty, let state = adaptive[key] else { return false }
        let nowMicros = Self.nowMicros()
        return state.suspendedUntil > nowMicros || state.blackholedUntil > nowMicros
    }

    /// Ends suspensions, blackholes and adjustments whose time is up (caller holds the lock);
    /// returns their log records and the queues to pump.
    func expireAdaptive(nowMicros: Int64) -> (log: [AdaptiveLogLine], queues: [DomainQueue]) {
        var log: [AdaptiveLogLine] = []
        var touched: [DomainQueue] = []
        for (key, state) in adaptive {
            var lifted: [String] = []
            if state.suspendedUntil != 0 && state.suspendedUntil <= nowMicros {
                state.suspendedUntil = 0
                lifted.append("suspension lifted")
            }
            if state.blackholedUntil != 0 && state.blackholedUntil <= nowMicros {
                state.blackholedUntil = 0
                lifted.append("blackhole lifted")
            }
            if state.adjustedUntil != 0 && state.adjustedUntil <= nowMicros {
                lifted.append(restoreLimits(key, state))
            }
            if !lifted.isEmpty {
                log.append(
                    AdaptiveLogLine(
                        binding: key.binding, domain: key.domain, level: "NOTICE", text: lifted.joined(separator: "; "))
                )
                if let queue = queues[key] { touched.append(queue) }
            }
            // Matches that fell out of their rule's window are forgotten, and with them the state
            // of a queue no rule acts on: replies from many domains cannot grow it for ever.
            state.matches = state.matches.filter { nowMicros - ($0.value.times.last ?? 0) < $0.value.window }
            if state.isIdle && state.matches.isEmpty { adaptive[key] = nil }
        }
        return (log, touched)
    }

    /// Back to the configured throttle and connections; the log text.
    func restoreLimits(_ key: QueueKey, _ state: AdaptiveState) -> String {
        state.rate = nil
        state.connectionReduction = 0
        state.adjustedUntil = 0
        queues[key]?.adaptiveThrottle = nil
        return "outbound_throttle_messages and max_outbound_connections restored"
    }

    /// `adaptive reset <domain> [binding]`: the operator lifts every back-off of the domain's
    /// queues. Returns how many queues had one.
    public func resetAdaptive(domain: String, binding: String?) -> Int {
        var starts: [Start] = []
        var lines: [AdaptiveLogLine] = []
        // Work a suspension postponed waits until the suspension's end: that is what goes now.
        var postponedUntil: [QueueKey: Int64] = [:]
        let count = lock.withLock { () -> Int in
            var count = 0
            for (key, state) in adaptive where key.domain == domain && (binding == nil || key.binding == binding) {
                count += 1
                if state.suspendedUntil != 0 { postponedUntil[key] = state.suspendedUntil }
                _ = restoreLimits(key, state)
                adaptive[key] = nil
                lines.append(
                    AdaptiveLogLine(
                        binding: key.binding, domain: key.domain, level: "NOTICE", text: "reset by the operator"))
                if let queue = queues[key] { starts += pump(queue) }
            }
            return count
        }
        for line in lines { log.adaptive(line) }
        run(starts)
        if !postponedUntil.isEmpty { _ = releaseNow { postponedUntil[$0.key] == $0.dueMicros } }
        return count
    }

    /// For metrics: rules fired since start, queues suspended or blackholed now, queues whose
    /// rate or connections are lowered now.
    public func adaptiveTotals() -> (actions: Int, held: Int, adjusted: Int) {
        lock.withLock {
            let nowMicros = Self.nowMicros()
            let held = adaptive.values.filter { $0.suspendedUntil > nowMicros || $0.blackholedUntil > nowMicros }.count
            let adjusted = adaptive.values.filter { $0.rate != nil || $0.connectionReduction > 0 }.count
            return (adaptiveActions, held, adjusted)
        }
    }

    /// One queue's back-off, for the console.
    public struct AdaptiveReport: Sendable {
        public var key: QueueKey
        /// Wall-clock µs; nil: none.
        public var suspendedUntil: Int64?
        public var blackholedUntil: Int64?
        public var reason: String
        public var rate: ThrottleRate?
        public var connectionReduction: Int
        public var adjustedUntil: Int64?
    }

    /// Every queue the rules act on now (console `adaptive list` / `adaptive suspensions`).
    public func adaptiveReports() -> [AdaptiveReport] {
        lock.withLock {
            adaptive.filter { !$0.value.isIdle }.map { key, state in
                AdaptiveReport(
                    key: key, suspendedUntil: state.suspendedUntil == 0 ? nil : state.suspendedUntil,
                    blackholedUntil: state.blackholedUntil == 0 ? nil : state.blackholedUntil, reason: state.reason,
                    rate: state.rate, connectionReduction: state.connectionReduction,
                    adjustedUntil: state.adjustedUntil == 0 ? nil : state.adjustedUntil)
            }.sorted { $0.key.description < $1.key.description }
        }
    }
}
