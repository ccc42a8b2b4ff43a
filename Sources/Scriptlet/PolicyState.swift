import Foundation
import ImpulseConfig
import LuaBridge

/// A script to load: the `script "name"` stanza and its file.
public struct ScriptSource: Sendable, Equatable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// What error messages call the script: its file name.
    public var chunkName: String { (path as NSString).lastPathComponent }
}

/// Why scripts could not be loaded; the configuration is not applied.
public struct ScriptletLoadError: Error, Sendable, CustomStringConvertible {
    public var script: String
    public var message: String
    public var description: String { "scriptlet: script \"\(script)\": \(message)" }
}

/// One Lua state with the prelude and every configured script loaded. Confined to one thread
/// (its event loop, or the scheduler for init/deinit).
public final class PolicyState {
    public let lua: LuaState
    /// Warnings from loading (unknown hooks, duplicate module names, tables with nothing usable).
    public internal(set) var warnings: [String] = []
    /// What all the process's states share (gauge caches, counters, CIDR tables).
    public let shared: SharedPolicyData
    /// How many SMTP sessions are open from addresses in a block (ac:inbound_session_count);
    /// set by the server.
    public var sessionCounter: ((CIDRBlock) -> Int)?
    /// Queues a marshalled msys.runInPool job that nobody waits for (`true` or a completion
    /// function); returns why it could not be queued, or nil. Set by the server.
    public var poolSubmitter: ((_ pool: String, _ payload: [UInt8], _ schedulerCompletion: [UInt8]?) -> String?)?
    /// Carries out a wait where no coroutine can suspend for it (msys.db and msys.http in the
    /// console, a pool's job, init), blocking the calling thread; set by the server, which refuses
    /// it on an event loop.
    public var blockingEffects: (@Sendable (PolicyEffect) -> EffectResult)?
    /// msys.core.mail_queue_delay_domain: delays a domain's queues with a reason; how many pieces of
    /// work waited. Set by the server (nil: nothing is queued here).
    public var queueDelayer: (@Sendable (_ domain: String, _ reason: String) -> Int)?
    /// The server's name (`hostname`): the Reporting-MTA of msys.rfc3464's reports.
    public var hostname = "localhost"
    /// msys.bounce: the classification code of a reply about a recipient domain (the operator's
    /// bounce_classifier_override rules, then the built-in ones). Nil: the built-in rules only.
    public var bounceClassifier: (@Sendable (_ reply: String, _ domain: String?) -> Int)?
    /// msys.adaptive.registerRules: hands back-off rules to the queue manager (replace, rules,
    /// aliases); returns the first problem found, or nil. Nil: nothing takes rules here.
    public var adaptiveRegistrar:
        (@Sendable (_ replace: Bool, _ rules: [AdaptiveRuleText], _ aliases: [String: String]) -> String?)?
    /// msys.config: the console's `config get` / `config eval` (value, text).
    public var configQuery: (@Sendable ([String]) -> (value: String?, text: String))?
    /// Runs timer callbacks later on this state's thread (msys.timer); set by the state's owner.
    public var timerScheduler: TimerScheduler?
    /// Carries out what Lua outside callouts waits for (timers, delivery hooks); set by the
    /// state's owner. Without one, a timer or hook that waits fails.
    public var effectPerformer: EffectPerformer?
    /// The result of an effect that is there without waiting (a cached DNS answer), so the
    /// script goes on at once instead of suspending; nil from it means the effect must wait.
    public var immediateEffects: ((PolicyEffect) -> EffectResult?)?
    var timers: [Int: TimerCancel] = [:]
    var stoppedTimers: Set<Int> = []
    /// msys.threadpool.count/find/stat. Set by the server.
    public var poolInfo: ((_ operation: String, _ pool: String) -> [LuaValue])?
    private(set) var implemented: Set<Callout> = []
    /// `implemented` as bits by callout number: asked on every callout.
    private var implementedMask: UInt32 = 0
    /// Compiled patterns of this state (msys.pcre), at most `PolicyLimits.pcreCacheSize`.
    var patterns: [String: PCRERegex] = [:]
    /// The coroutine body every callout runs in (`__impulse_worker`), and finished workers kept
    /// for the next callout (making a coroutine per callout costs more than the callout).
    private var worker: LuaReference?
    /// The prelude's table of sessions (sid → session), where context keys are written.
    private var sessionsTable: LuaReference?
    var idleWorkers: [LuaCoroutine] = []
    /// The prelude's entry points, looked up once.
    struct Entries {
        var open, set, get, newMessage, takeRecipients, setMessage, takeMessage, close, routingDomain, runningModule,
            takeChanges: LuaReference?
    }
    var entry = Entries()
    /// The last callout that finished changed its session's recipient list.
    var recipientsChanged = false
    var changesPending = false
    /// VM instructions one callout may run before the watchdog stops it (tests lower it).
    public var instructionBudget = PolicyLimits.instructionBudget
    public let memoryLimit: Int

    /// A callout suspended by a msys function; resume it with `resume(_:with:)`.
    public final class Suspension {
        /// What the callout waits for.
        public let effect: PolicyEffect
        let coroutine: LuaCoroutine
        let callout: Callout
        let session: Int

        init(effect: PolicyEffect, coroutine: LuaCoroutine, callout: Callout, session: Int) {
            self.effect = effect
            self.session = session
            self.coroutine = coroutine
            self.callout = callout
        }
    }

    /// The effect the running callout asked for in this step (set by `SwiftFunction.suspend`
    /// just before its coroutine yields).
    var pendingEffect: PolicyEffect?

    /// Where a callout run stands.
    public enum Progress {
        case done(CalloutOutcome)
        case suspended(Suspension)
    }

    /// Hook points Impulse knows (HookRegistry): "fired", "delivery" (fired once delivery exists)
    /// or "known" (Momentum has it, Impulse does not call it); other `<scope>_<hook>` keys are
    /// reported at load as unknown.
    /// Every hook point Impulse knows, with how it treats it ("fired", "delivery": declared for
    /// delivery but not called yet, "known": Momentum has it, Impulse does not call it).
    static let hookKinds: [(key: LuaValue, value: LuaValue)] = HookRegistry.prototypes.keys.sorted().map { name in
        let kind =
            HookRegistry.fired.contains(name)
            ? "fired" : HookRegistry.declaredForDelivery.contains(name) ? "delivery" : "known"
        return (.string(name), .string(kind))
    }

    /// Loads the prelude and `scripts` in order. Each script is translated from Threaded Lua and
    /// run once (its module-level code runs per state, as in Momentum).
    /// `print` in scripts goes to `printer` (Momentum sends it to the paniclog); without one, to stdout.
    public init(
        scripts: [ScriptSource], jit: Bool = false, shared: SharedPolicyData = SharedPolicyData(),
        memoryLimit: Int = PolicyLimits.defaultMemoryLimit,
        printer: (@Sendable (String) -> Void)? = nil,
        adaptiveRegistrar: (@Sendable (Bool, [AdaptiveRuleText], [String: String]) -> String?)? = nil
    ) throws(ScriptletLoadError) {
        // Scripts register back-off rules from their module-level code: the registrar is there first.
        self.adaptiveRegistrar = adaptiveRegistrar
        lua = LuaState(jit: jit, sealed: false)
        self.memoryLimit = memoryLimit
        self.shared = shared
        if let printer {
            lua.setGlobal("print") { arguments in
                printer(
                    (0..<arguments.count).map { index in
                        arguments.string(index + 1) ?? arguments[index + 1].description
                    }.joined(separator: "\t"))
                return .values([])
            }
        }
        lua.setInternal(.setECStringMetatable) { arguments in
            arguments.storeInRegistry(1, key: "impulse.ecstring.mt")
            return .values([])
        }
        lua.setInternal(.newECString) { _ in .newUserdata(metatableKey: "impulse.ecstring.mt") }
        do {
            lua.setInternal(.hooks, table: Self.hookKinds)
            lua.setInternal(.maxSleep, value: .number(PolicyLimits.maxSleep))
            lua.setInternal(.httpDefaultTimeout, value: .number(PolicyLimits.defaultHTTPTimeout))
            try lua.runTrusted(TrustedLuaChunk.prelude.source, chunkName: TrustedLuaChunk.prelude.fileName)
            installLibrary(printer: printer)
            try lua.runTrusted(TrustedLuaChunk.library.source, chunkName: TrustedLuaChunk.library.fileName)
            installThreadPools()
            try lua.runTrusted(TrustedLuaChunk.threadPools.source, chunkName: TrustedLuaChunk.threadPools.fileName)
            installTimers()
            try lua.runTrusted(TrustedLuaChunk.timers.source, chunkName: TrustedLuaChunk.timers.fileName)
            try lua.runTrusted(TrustedLuaChunk.datasources.source, chunkName: TrustedLuaChunk.datasources.fileName)
            try lua.runTrusted(TrustedLuaChunk.http.source, chunkName: TrustedLuaChunk.http.fileName)
            try lua.runTrusted(TrustedLuaChunk.mime.source, chunkName: TrustedLuaChunk.mime.fileName)
            try lua.runTrusted(TrustedLuaChunk.throttles.source, chunkName: TrustedLuaChunk.throttles.fileName)
            lua.seal()
        } catch {
            throw ScriptletLoadError(script: "(prelude)", message: error.message)
        }
        // Scripts, from their module-level code on, run within the state's memory limit.
        lua.setMemoryLimit(octets: memoryLimit)
        installPCRE()
        lua.setInternal(.fetchMessage) { [unowned self] arguments in
            guard let id = arguments[1].integer(in: 0...Int.max), let fetch = messageSource[id] else {
                return .values([.nil])
            }
            let message = fetch()
            if case .string("whole") = arguments[2] { return .values([.bytes(message)]) }
            // The header section (through its last line's CRLF) and the body, each copied into
            // Lua once: msg:header and msg:body take them apart no further.
            let (head, body) = Self.split(message)
            return .values([.bytes(Array(message[..<head])), .bytes(Array(message[body...]))])
        }
        lua.setInternal(.fetchRecipients) { [unowned self] arguments in
            guard let id = arguments[1].integer(in: 0...Int.max), let list = recipientSource[id]?() else {
                return .values([.nil])
            }
            return .values([.boolean(list.final)] + list.addresses.map { .string($0) })
        }
        let searchPath = Set(scripts.map { ($0.path as NSString).deletingLastPathComponent })
        let packagePath = searchPath.sorted().map { "\($0)/?.lua" }.joined(separator: ";")
        lua.setField(table: "package", "path", value: .string(packagePath))
        for script in scripts {
            guard let data = FileManager.default.contents(atPath: script.path) else {
                throw ScriptletLoadError(script: script.name, message: "cannot read \(script.path)")
            }
            let source = String(decoding: data, as: UTF8.self)
            let translated: String
            do {
                translated = try ThreadedLuaTranslator.translate(source)
            } catch {
                throw ScriptletLoadError(
                    script: script.name, message: "\(script.chunkName):\(error.line): \(error.message)")
            }
            do {
                try lua.callInternal(.loading, [.string(script.chunkName)])
                try lua.run(translated, chunkName: script.chunkName)
            } catch {
                throw ScriptletLoadError(script: script.name, message: error.message)
            }
        }
        lua.setInternal(.suspend) { [unowned self] arguments in
            switch PolicyEffect.decode(arguments) {
            case .success(let effect):
                pendingEffect = effect
                return .yield([.string(ScriptletABI.effectMarker)])
            case .failure(let error):
                return .error(error.message)
            }
        }
        if case .string(let text)? = try? lua.callInternal(.warnings).first, !text.isEmpty {
            warnings += text.components(separatedBy: "\n")
        }
        var implemented = Set<Callout>()
        for callout in Callout.allCases {
            if case .boolean(true)? = try? lua.callInternal(.implements, [.string(callout.rawValue)]).first {
                implemented.insert(callout)
            }
        }
        self.implemented = implemented
        implementedMask = implemented.reduce(0) { $0 | (1 << $1.number) }
        lua.setInternal(
            .calloutNames,
            table: Callout.allCases.enumerated().map { (.number(Double($0.offset + 1)), .string($0.element.rawValue)) })
        worker = lua.reference(internal: .worker)
        sessionsTable = lua.reference(toResultOfInternal: .sessions)
        entry = Entries(
            open: lua.reference(internal: .open), set: lua.reference(internal: .set),
            get: lua.reference(internal: .get),
            newMessage: lua.reference(internal: .newMessage),
            takeRecipients: lua.reference(internal: .takeRecipients),
            setMessage: lua.reference(internal: .setMessage),
            takeMessage: lua.reference(internal: .takeMessage),
            close: lua.reference(internal: .close), routingDomain: lua.reference(internal: .routingDomain),
            runningModule: lua.reference(internal: .runningModule),
            takeChanges: lua.reference(internal: .takeChanges))
    }

    /// Calls one of the prelude's entry points.
    func call(_ reference: LuaReference?, _ arguments: [LuaValue]) throws(LuaError) -> [LuaValue] {
        guard let reference else { throw LuaError(kind: .other, message: "impulse: prelude entry point missing") }
        // Impulse's own Lua bookkeeping runs under the watchdog too: it calls standard functions a
        // script may have replaced.
        let arming = !lua.watchdogArmed
        if arming { lua.setWatchdog(instructions: instructionBudget) }
        defer { if arming { lua.setWatchdog(instructions: 0) } }
        return try lua.call(reference, arguments)
    }

    static func luaQuoted(_ text: String) -> String {
        "\""
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    /// The callouts some module implements.
    public var callouts: Set<Callout> { implemented }

    /// True when some module implements `callout` (phases nobody implements cost nothing).
    public func implements(_ callout: Callout) -> Bool { implementedMask & (1 << callout.number) != 0 }

    /// Starts a session's policy state, seeding its connection context. `peer` and `listener`
    /// are the client's and the listening socket's address and port (accept.remote_addr,
    /// msg:reception_peer, msg:listener_addr).
    public func openSession(
        _ id: Int, connectionContext: [(String, String)],
        peer: (ip: String, port: Int) = ("0.0.0.0", 0), listener: (ip: String, port: Int) = ("0.0.0.0", 0)
    ) {
        _ = try? call(
            entry.open,
            [
                .number(Double(id)), .string(peer.ip), .number(Double(peer.port)),
                .string(listener.ip), .number(Double(listener.port))
            ])
        if !connectionContext.isEmpty, let sessionsTable {
            lua.setFields(in: sessionsTable, path: [.number(Double(id)), .string("conn")], connectionContext)
        }
    }

    /// Sets a connection- or message-context key (the predefined keys in docs/lua/objects.md).
    public func setContext(_ id: Int, message: Bool, _ key: String, _ value: String?) {
        _ = try? call(
            entry.set, [.number(Double(id)), .number(message ? 1 : 0), .string(key), value.map { .string($0) } ?? .nil])
    }

    /// Sets several context keys (written straight into the session's tables; no Lua code runs).
    public func setContexts(_ id: Int, _ updates: [ContextUpdate]) {
        guard !updates.isEmpty, let sessionsTable else { return }
        var connection: [(String, String)] = []
        var message: [(String, String)] = []
        for update in updates {
            if update.message {
                message.append((update.key, update.value))
            } else {
                connection.append((update.key, update.value))
            }
        }
        if !connection.isEmpty {
            lua.setFields(in: sessionsTable, path: [.number(Double(id)), .string("conn")], connection)
        }
        if !message.isEmpty { lua.setFields(in: sessionsTable, path: [.number(Double(id)), .string("mess")], message) }
    }

    public func context(_ id: Int, message: Bool, _ key: String) -> String? {
        guard
            case .string(let value)? = try? call(
                entry.get, [.number(Double(id)), .number(message ? 1 : 0), .string(key)]
            ).first
        else {
            return nil
        }
        return value
    }

    /// A session's string-valued context keys: connection (`conn`) and message (`mess`).
    public func contextSnapshot(_ id: Int) -> (conn: [String: String], mess: [String: String]) {
        var conn: [String: String] = [:]
        var mess: [String: String] = [:]
        guard let values = try? lua.callInternal(.contextDump, [.number(Double(id))]) else { return ([:], [:]) }
        var index = 0
        while index + 2 < values.count {
            if case .string(let scope) = values[index], case .string(let key) = values[index + 1],
                case .string(let value) = values[index + 2]
            {
                if scope == "c" { conn[key] = value } else { mess[key] = value }
            }
            index += 3
        }
        return (conn, mess)
    }

    /// A new transaction: the message context starts empty (docs/lua/objects.md).
    public func beginMessage(_ id: Int) {
        _ = try? call(entry.newMessage, [.number(Double(id))])
    }

    /// Starts `callout` across every module in a coroutine; `text` is the ec_string argument where
    /// there is one. A module may suspend it (msys.sleep …): then `.suspended` says what for.
    public func start(_ callout: Callout, session id: Int, text: String? = nil) -> Progress {
        guard implements(callout),
            let coroutine = idleWorkers.popLast() ?? worker.flatMap({ LuaCoroutine(state: lua, function: $0) })
        else {
            return .done(.proceed)
        }
        return step(
            coroutine, callout, session: id,
            [
                .boolean(callout.isHook), .number(Double(id)), .number(Double(callout.number)),
                text.map { .string($0) } ?? .nil
            ])
    }

    /// True when some module implements `core_log_rejection_v1` (fired for each 4xx/5xx reply).
    public private(set) lazy var hasRejectionHook: Bool = implementsHook("core_log_rejection_v1")

    /// True when some module implements `core_config_get_message_routing_domain`.
    public private(set) lazy var hasRoutingDomainHook: Bool = {
        if case .boolean(true)? = try? lua.callInternal(
            .hookImplemented, [.string("core_config_get_message_routing_domain")]
        ).first {
            return true
        }
        return false
    }()

    /// `core_config_get_message_routing_domain(scope, msg, buff)` for a message of this session:
    /// the domain a module wrote into `buff`, or nil when none changed it.
    public func routingDomain(session id: Int, defaultDomain: String) -> Result<String?, ScriptletFailure> {
        guard hasRoutingDomainHook else { return .success(nil) }
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        let hook = "core_config_get_message_routing_domain"
        do {
            let results = try call(entry.routingDomain, [.number(Double(id)), .string(defaultDomain)])
            if case .failed(let failure) = CalloutReport(results[...], callout: hook).outcome {
                return .failure(failure)
            }
            if case .string(let domain)? = results.dropFirst().first { return .success(domain) }
            return .success(nil)
        } catch {
            return .failure(ScriptletFailure(module: "?", script: "?", callout: hook, message: error.message))
        }
    }

    /// Where `vctx:recipient_list` and friends read a session's recipients from, when a callout
    /// first asks: the addresses and whether the list is final (nil outside a transaction).
    public var recipientSource: [Int: () -> (addresses: [String], final: Bool)?] = [:]

    /// Where msg content comes from, per session, while message-phase callouts run.
    var messageSource: [Int: () -> [UInt8]] = [:]

    /// Ends a session: `validate_dealloc` runs for each module an earlier phase ran.
    @discardableResult
    public func closeSession(_ id: Int) -> ScriptletFailure? {
        recipientSource[id] = nil
        messageSource[id] = nil
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        guard let results = try? call(entry.close, [.number(Double(id))]) else { return nil }
        if case .failed(let failure) = CalloutReport(results[...], callout: "validate_dealloc").outcome {
            return failure
        }
        return nil
    }

    /// Runs every module's `init` (scheduler state); nil when all returned true.
    public func runInit() -> ScriptletFailure? {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        guard let results = try? lua.callInternal(.initialize) else { return nil }
        if case .failed(let failure) = CalloutReport(results[...], callout: "init").outcome { return failure }
        return nil
    }

    public func runDeinit() -> ScriptletFailure? {
        guard let results = try? lua.callInternal(.deinitialize) else { return nil }
        if case .failed(let failure) = CalloutReport(results[...], callout: "deinit").outcome { return failure }
        return nil
    }
}
