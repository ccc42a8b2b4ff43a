import Foundation
import LuaBridge

/// What a suspended policy waits for: the one list of every wait a msys function can ask for.
/// Impulse's effect executor carries it out without blocking the thread the policy runs on, then
/// the callout goes on with `PolicyState.resume(_:with:)` and the `EffectResult`
/// (docs/lua/abi.md, "Waits"; CONTRIBUTING.md shows how to add one).
public enum PolicyEffect: Equatable, Sendable {
    /// msys.sleep: resume after this many seconds (at most `PolicyLimits.maxSleep`).
    case sleep(seconds: Double)
    /// msys.dnsLookup: the answers (MX as `"pref host"`).
    case dnsLookup(name: String, type: String)
    /// msys.readfile: the file's content.
    case readFile(path: String)
    /// `m:inject(mailfrom, rcptto)`: spool a message a script built; the new message's id once
    /// it is durable.
    case inject(mailFrom: String, recipients: [String], content: [UInt8])
    /// msys.runInPool: run the marshalled job in pool `pool` (PolicyState.runPoolJob in one of its
    /// states); the marshalled results.
    case runInPool(pool: String, payload: [UInt8])
    /// msys.validate.opendkim.verify: the message's DKIM signatures checked (keys through the
    /// resolver).
    case dkimVerify(message: [UInt8])
    /// msys.validate.opendkim.sign: a DKIM-Signature field for the message, with the script's
    /// options (name, value) over the opendkim stanza's.
    case dkimSign(message: [UInt8], options: [String: String])
    /// msys.validate.openarc.verify: the message's ARC chain validated (keys through the
    /// resolver).
    case arcVerify(message: [UInt8])
    /// msys.validate.openarc.sign: an ARC set for the message, with the script's options.
    case arcSign(message: [UInt8], options: [String: String])
    /// msys.db.query / fetch_row / execute: a statement run on a datasource's threads
    /// (`DatabaseCall.success` or the reason it failed).
    case database(DatabaseCall)
    /// msys.http.client's do_request: an HTTP request (`HTTPCall.success` or why it failed).
    case http(HTTPCall)
    /// msys.shared_throttle's inc, check, take and tarpit: one step of named throttle `name`'s
    /// clock (`take`, `count` or `peek`) at `count` events per `seconds`; the µs the event has
    /// to wait as a number (0: it may go now).
    case namedThrottle(operation: String, name: String, count: Int, seconds: Int)

    /// The steps `namedThrottle` takes.
    public static let namedThrottleOperations: Set<String> = ["take", "count", "peek"]

    /// Decodes a call of `__impulse_suspend(kind, …)` from Impulse's Lua; an error message names
    /// the msys function when the arguments are not what it sends.
    static func decode(_ arguments: LuaArguments) -> Result<PolicyEffect, EffectDecodingError> {
        switch arguments.string(1) {
        case "sleep":
            guard case .number(let seconds) = arguments[2], seconds.isFinite, seconds >= 0 else {
                return .failure(EffectDecodingError("msys.sleep: expected a number of seconds"))
            }
            return .success(.sleep(seconds: min(seconds, PolicyLimits.maxSleep)))
        case "dns":
            guard let name = arguments.string(2), !name.isEmpty, name.utf8.count <= 255, let type = arguments.string(3)
            else {
                return .failure(EffectDecodingError("msys.dnsLookup: bad name"))
            }
            return .success(.dnsLookup(name: name, type: type))
        case "inject":
            guard let sender = arguments.string(2), let recipients = arguments.string(3),
                let content = arguments.octets(4)
            else {
                return .failure(EffectDecodingError("inject: expected (mailfrom, rcptto, content)"))
            }
            return .success(
                .inject(
                    mailFrom: sender, recipients: recipients.split(separator: "\n").map(String.init), content: content))
        case "pool":
            guard let pool = arguments.string(2), let payload = arguments.octets(3) else {
                return .failure(EffectDecodingError("msys.runInPool: bad job"))
            }
            return .success(.runInPool(pool: pool, payload: payload))
        case "readfile":
            guard let path = arguments.string(2), !path.isEmpty else {
                return .failure(EffectDecodingError("msys.readfile: bad path"))
            }
            return .success(.readFile(path: path))
        case "dkim_verify":
            guard let message = arguments.octets(2) else {
                return .failure(EffectDecodingError("msys.validate.opendkim.verify: no message"))
            }
            return .success(.dkimVerify(message: message))
        case "dkim_sign", "arc_sign":
            let arc = arguments.string(1) == "arc_sign"
            let caller = arc ? "msys.validate.openarc.sign" : "msys.validate.opendkim.sign"
            guard let message = arguments.octets(2) else {
                return .failure(EffectDecodingError("\(caller): no message"))
            }
            var options: [String: String] = [:]
            var index = 3
            while index <= arguments.count {
                guard let name = arguments.string(index), let value = arguments.string(index + 1),
                    (arc ? PolicyEffect.arcOptionNames : PolicyEffect.dkimOptionNames).contains(name)
                else {
                    return .failure(EffectDecodingError("\(caller): bad options"))
                }
                options[name] = value
                index += 2
            }
            return .success(
                arc ? .arcSign(message: message, options: options) : .dkimSign(message: message, options: options))
        case "db":
            return DatabaseCall.decode(arguments, from: 2).map { .database($0) }
        case "http":
            return HTTPCall.decode(arguments, from: 2).map { .http($0) }
        case "throttle":
            guard let operation = arguments.string(2), PolicyEffect.namedThrottleOperations.contains(operation),
                let name = arguments.string(3), !name.isEmpty, name.utf8.count <= PolicyLimits.maxThrottleName,
                let count = arguments[4].integer(in: 1...10_000_000), let seconds = arguments[5].integer(in: 1...86_400)
            else {
                return .failure(EffectDecodingError("msys.shared_throttle: bad throttle"))
            }
            return .success(.namedThrottle(operation: operation, name: name, count: count, seconds: seconds))
        case "arc_verify":
            guard let message = arguments.octets(2) else {
                return .failure(EffectDecodingError("msys.validate.openarc.verify: no message"))
            }
            return .success(.arcVerify(message: message))
        default:
            return .failure(EffectDecodingError("impulse: unknown suspension"))
        }
    }
}

extension PolicyEffect {
    /// The options msys.validate.opendkim.sign takes (Momentum's names; `key` as some scripts
    /// write `keyfile`, `signing_domain` as a synonym of `base_domain`).
    public static let dkimOptionNames: Set<String> = [
        "base_domain", "signing_domain", "header_canon", "body_canon", "digest", "headerlist", "identity", "selector",
        "keyfile", "key", "keybuf", "body_length_limit"
    ]

    /// The options msys.validate.openarc.sign takes: the signing domain, selector and key as for
    /// DKIM, the authserv-id, the signed header fields and the results to record.
    public static let arcOptionNames: Set<String> = [
        "base_domain", "signing_domain", "selector", "keyfile", "key", "keybuf", "headerlist", "authservid",
        "authserv_id", "ar"
    ]

    /// msys.readfile's work, on whatever thread may block (the effect executor's I/O pool, or a
    /// thread pool's own thread): the size first, so a file over `PolicyLimits.maxReadFile` is
    /// refused without being read.
    public static func readFile(_ path: String) -> EffectResult {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int
        else { return .failed("\(path): no such file") }
        guard size <= PolicyLimits.maxReadFile else {
            return .failed("\(path): larger than \(PolicyLimits.maxReadFile) octets")
        }
        guard let data = FileManager.default.contents(atPath: path) else { return .failed("\(path): cannot read") }
        return .ok([.bytes(Array(data))])
    }
}

/// A `__impulse_suspend` call that does not decode: raised in the script as a Lua error.
struct EffectDecodingError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// How a `PolicyEffect` ended, as the waiting msys function gets it.
public enum EffectResult: Equatable, Sendable {
    /// Done; what the msys function returns to Lua after `"ok"` (nothing for a sleep).
    case ok([LuaValue])
    /// Failed, with the reason the msys function returns after `nil`.
    case failed(String)

    /// The values the suspended coroutine is resumed with: `"ok", …` or `"error", reason`
    /// (what the waiting functions in Impulse's Lua expect).
    var luaValues: [LuaValue] {
        switch self {
        case .ok(let values): [.string("ok")] + values
        case .failed(let reason): [.string("error"), .string(reason)]
        }
    }
}
