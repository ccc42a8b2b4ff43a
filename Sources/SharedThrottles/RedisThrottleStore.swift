import CHiredis
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Cluster-wide throttles kept in Redis (through hiredis): each throttle is one key holding its
/// GCRA clock, advanced by a Lua script that Redis runs atomically against its own clock (TIME),
/// so every node that shares the Redis server shares the rate and no two nodes' clocks need to
/// agree. Calls block (one connection, one call at a time): run them off the event loops. When
/// Redis cannot be reached the store says so, and callers fall back to local throttles; it is
/// tried again at most once a second, and its return is logged.
package final class RedisThrottleStore: @unchecked Sendable {
    /// What Redis said about one permit.
    package enum Answer: Sendable, Equatable {
        /// Taken: the event may go.
        case granted
        /// Not yet: ask again in this many µs.
        case wait(Int64)
        /// Redis is unreachable (or answered with an error): use the local throttle.
        case unavailable
    }

    /// What a call does to the throttle's clock (the script's third argument).
    package enum Operation: String, Sendable {
        /// Count the event only when it may go now (a permit).
        case take
        /// Count the event whatever the rate; the answer is how long it should have waited.
        case count
        /// Count nothing: how long the next event would wait.
        case peek
    }

    package let host: String
    package let port: Int
    package let logger: Logger
    /// Held for a whole call (one connection, one call at a time).
    private let lock = NIOLock()
    private var context: UnsafeMutablePointer<redisContext>?
    private var scriptSHA: String?
    /// Whether Redis is down, and until when no connection is attempted: readable without
    /// waiting for a call in progress.
    private let downState = NIOLockedValueBox((down: false, until: Date?.none))
    private var down: Bool {
        get { downState.withLockedValue { $0.down } }
        set { downState.withLockedValue { $0.down = newValue } }
    }
    private var downUntil: Date? {
        get { downState.withLockedValue { $0.until } }
        set { downState.withLockedValue { $0.until = newValue } }
    }

    /// The GCRA step: KEYS[1] the throttle; ARGV the interval and the burst tolerance in µs, and
    /// the operation (take, count or peek). Returns the µs the event has to wait (0: it may go
    /// now). `take` counts it only when that is 0, `count` always, `peek` never. A count past the
    /// quota moves the clock at most one interval beyond the tolerance, so events over the rate
    /// hold the throttle while they go on and not for their whole number afterwards.
    static let script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local interval = tonumber(ARGV[1])
        local tolerance = tonumber(ARGV[2])
        local mode = ARGV[3] or 'take'
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        local wait = tat - tolerance - now
        if wait < 0 then wait = 0 end
        if mode == 'peek' or (mode == 'take' and wait > 0) then return wait end
        local next = tat + interval
        if next > now + tolerance + interval then next = now + tolerance + interval end
        redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1000)
        return wait
        """

    /// Seconds a connection attempt or a call may take.
    static let timeoutSeconds = 1

    package init(host: String, port: Int, logger: Logger) {
        self.host = host
        self.port = port
        self.logger = logger
    }

    deinit { if let context { redisFree(context) } }

    /// Whether the last call found Redis unreachable.
    package var isDown: Bool { down }

    /// Down, and its second of rest is over: a call would try to connect again.
    package var mayTryAgain: Bool {
        downState.withLockedValue { $0.down && ($0.until.map { Date() >= $0 } ?? true) }
    }

    /// Asks for one permit of throttle `key` (blocking).
    package func acquire(key: String, intervalMicros: Int64, toleranceMicros: Int64) -> Answer {
        run(.take, key: key, intervalMicros: intervalMicros, toleranceMicros: toleranceMicros)
    }

    /// Carries out `operation` on throttle `key` (blocking): `.granted` when the event may go
    /// now, else how long it has to wait (for `count`: should have waited; it was counted).
    package func run(_ operation: Operation, key: String, intervalMicros: Int64, toleranceMicros: Int64) -> Answer {
        lock.withLock {
            guard let context = connected() else { return .unavailable }
            let arguments = [String(intervalMicros), String(toleranceMicros), operation.rawValue]
            var reply: Reply
            if let sha = scriptSHA {
                reply = command(context, ["EVALSHA", sha, "1", key] + arguments)
                if case .error(let text) = reply, text.hasPrefix("NOSCRIPT") {
                    scriptSHA = nil
                    reply = command(context, ["EVAL", Self.script, "1", key] + arguments)
                }
            } else {
                reply = command(context, ["SCRIPT", "LOAD", Self.script])
                if case .string(let sha) = reply {
                    scriptSHA = sha
                    reply = command(context, ["EVALSHA", sha, "1", key] + arguments)
                }
            }
            switch reply {
            case .integer(let wait): return wait <= 0 ? .granted : .wait(wait)
            case .broken(let why):
                lost(why)
                return .unavailable
            case .error(let text), .string(let text):
                logger.warning("shared throttle: Redis answered \(text); using the local throttle")
                return .unavailable
            }
        }
    }

    /// The open connection, or a new one; nil while Redis is down (caller holds the lock).
    private func connected() -> UnsafeMutablePointer<redisContext>? {
        if let context { return context }
        if let downUntil, Date() < downUntil { return nil }
        let timeout = timeval(tv_sec: Self.timeoutSeconds, tv_usec: 0)
        guard let made = redisConnectWithTimeout(host, Int32(port), timeout) else {
            lost("cannot allocate a Redis connection")
            return nil
        }
        if made.pointee.err != 0 {
            let why = Self.errorText(made)
            redisFree(made)
            lost(why)
            return nil
        }
        redisSetTimeout(made, timeout)
        context = made
        scriptSHA = nil
        if down {
            down = false
            logger.notice("shared throttle: Redis at \(host):\(port) is reachable again; throttles are shared again")
        }
        downUntil = nil
        return made
    }

    /// Redis went away: drop the connection, say so once, and wait a second before trying again.
    private func lost(_ why: String) {
        if let context { redisFree(context) }
        context = nil
        downUntil = Date().addingTimeInterval(1)
        if !down {
            down = true
            logger.warning(
                "shared throttle: Redis at \(host):\(port) is unreachable (\(why)); each node keeps the limits locally until it returns"
            )
        }
    }

    enum Reply {
        case integer(Int64)
        case string(String)
        case error(String)
        /// No reply: the connection broke or timed out.
        case broken(String)
    }

    /// One command, its arguments passed as binary-safe strings (redisCommandArgv).
    private func command(_ context: UnsafeMutablePointer<redisContext>, _ arguments: [String]) -> Reply {
        let storage = arguments.map { Array($0.utf8) + [0] }
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        let raw = storage.map { bytes -> UnsafeMutablePointer<CChar> in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            bytes.withUnsafeBufferPointer { source in
                for (index, byte) in source.enumerated() { copy[index] = CChar(bitPattern: byte) }
            }
            return copy
        }
        defer { for pointer in raw { pointer.deallocate() } }
        for (index, pointer) in raw.enumerated() {
            pointers.append(UnsafePointer(pointer))
            lengths.append(storage[index].count - 1)
        }
        let result = pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
        guard let result else { return .broken(Self.errorText(context)) }
        defer { freeReplyObject(result) }
        let reply = result.assumingMemoryBound(to: redisReply.self).pointee
        switch reply.type {
        case REDIS_REPLY_INTEGER: return .integer(Int64(reply.integer))
        case REDIS_REPLY_ERROR: return .error(Self.text(reply))
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS: return .string(Self.text(reply))
        default: return .error("unexpected reply type \(reply.type)")
        }
    }

    static func text(_ reply: redisReply) -> String {
        guard let string = reply.str else { return "" }
        return String(
            decoding: UnsafeRawBufferPointer(start: string, count: Int(reply.len)), as: UTF8.self)
    }

    static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
