import LuaBridge

/// The contract between Swift and Impulse's own Lua (`Lua/*.lua` in this target): every name the
/// two sides share in the internals table — the environment only Impulse's chunks have — and the
/// typed form of what the Lua side hands back (docs/lua/abi.md). Scripts reach none of it.
///
/// A name used on one side and missing here is a test failure (ScriptletABITests reads the Lua
/// files), so the list stays whole.
enum ScriptletABI {
    /// Functions Swift puts in the internals table for Impulse's Lua to call.
    enum SwiftFunction: String, CaseIterable {
        /// A waiting msys function's request (msys.sleep, dnsLookup, readfile, runInPool, inject):
        /// checked and decoded into a `PolicyEffect`, then the callout's coroutine yields.
        case suspend = "__impulse_suspend"
        /// The message's octets and its recipient list, fetched once per message on first use.
        case fetchMessage = "__impulse_fetch_message"
        case fetchRecipients = "__impulse_fetch_recipients"
        /// The ec_string userdata: its metatable (stored once) and new instances.
        case setECStringMetatable = "__impulse_set_ecstring_metatable"
        case newECString = "__impulse_new_ecstring"
        /// msys.cidr: define a table, query it, and its source text for thread-pool states.
        case cidrDefine = "__impulse_cidr_define"
        case cidrQuery = "__impulse_cidr_query"
        case cidrSource = "__impulse_cidr_source"
        /// msys.log / print's paniclog lines at a level.
        case log = "__impulse_log"
        /// msys.idn.to_ascii / to_unicode (libidn2).
        case idn = "__impulse_idn"
        /// msys.pcre (PCRE2 with match limits).
        case pcreMatch = "__impulse_pcre_match"
        case pcreReplace = "__impulse_pcre_replace"
        case pcreSplit = "__impulse_pcre_split"
        /// msys.gauge_cache and msys.counter, shared by every state of the process.
        case gauge = "__impulse_gauge"
        case counter = "__impulse_counter"
        /// msys.core.mail_queue_delay_domain: delay a domain's queues (the server's queue manager).
        case queueDelayDomain = "__impulse_queue_delay_domain"
        /// msys.rfc3464.create_mdn / send_mdn: an RFC 3464 report (OutboundSMTP's
        /// DeliveryStatusNotification, as the queue manager's bounces).
        case rfc3464Report = "__impulse_delivery_report"
        /// msys.config: the console's `config get` / `config eval` (ConfigQuery).
        case config = "__impulse_config"
        /// msys.bounce: Momentum's bounce classification code of a reply (BounceClassifier).
        case bounceClassify = "__impulse_bounce_classify"
        /// msys.adaptive.registerRules: back-off rules for the queue manager (AdaptiveRules).
        case adaptiveRegister = "__impulse_adaptive_register"
        /// msg:mime: a message's MIME structure (MIMEStructure), eight values per part.
        case mimeParse = "__impulse_mime_parse"
        /// msys.shared_throttle: create a named throttle, and look its rate up before a wait.
        case namedThrottle = "__impulse_named_throttle"
        /// msys.audit_series: define, add, count, remove_item on the process's shared series.
        case auditSeries = "__impulse_audit_series"
        /// ac:inbound_session_count: open sessions from a CIDR block.
        case sessionCount = "__impulse_session_count"
        /// Time spent per module (metrics), when an HTTP_Listener serves them.
        case moduleTime = "__impulse_module_time"
        /// msys.threadpool: queue a job nobody waits for; count, find and stat pools.
        case poolSubmit = "__impulse_pool_submit"
        case poolInfo = "__impulse_pool_info"
        /// Pool states only: refuses waiting functions inside a job that must not block.
        case block = "__impulse_block"
        /// msys.timer: the timer userdata's metatable and instances, and start / cancel.
        case setTimerMetatable = "__impulse_set_timer_metatable"
        case newTimer = "__impulse_new_timer"
        case timer = "__impulse_timer"
    }

    /// Values Swift puts in the internals table before Impulse's Lua runs.
    enum SwiftValue: String, CaseIterable {
        /// Every hook point Impulse knows and how it treats it ("fired", "delivery", "known").
        case hooks = "__impulse_hooks"
        /// The longest single msys.sleep, in seconds.
        case maxSleep = "__impulse_max_sleep"
        /// An msys.http client's time-out until set_timeout changes it, in seconds.
        case httpDefaultTimeout = "__impulse_http_default_timeout"
        /// Callout names by number: a callout is named to Lua by its number (Callout.number).
        case calloutNames = "__impulse_callout_names"
        /// lua-cjson's module table (msys.json), when Debian's liblua5.1-cjson is installed.
        case cjson = "__impulse_cjson"
    }

    /// What the C layer (LuaShim) puts in the internals table for the prelude; removed by the
    /// seal, before any script runs.
    enum ShimFunction: String, CaseIterable {
        /// Loads source or bytecode: moves functions between Impulse's own states (thread pools).
        case loadBinary = "__impulse_load_binary"
        /// CLOCK_MONOTONIC seconds, for per-module timing.
        case monotonic = "__impulse_monotonic"
    }

    /// Functions Impulse's Lua defines and Swift calls.
    enum LuaEntry: String, CaseIterable {
        /// Before a script loads: its name, for the modules it registers.
        case loading = "__impulse_loading"
        /// Load-time warnings (unknown hooks, modules without methods), as one text.
        case warnings = "__impulse_warnings"
        /// Which callouts some module implements (numbers, see SwiftValue.calloutNames).
        case implements = "__impulse_implements"
        /// Whether some module implements a hook point.
        case hookImplemented = "__impulse_hook_implemented"
        /// The body of every callout coroutine; yields `calloutDone` or a suspension.
        case worker = "__impulse_worker"
        /// The table of sessions (sid → session): Swift writes context keys straight into it.
        case sessions = "__impulse_sessions"
        /// Session and message bookkeeping.
        case open = "__impulse_open"
        case close = "__impulse_close"
        case set = "__impulse_set"
        case get = "__impulse_get"
        case newMessage = "__impulse_new_message"
        /// A session's context keys, for `impulse policy test`'s report.
        case contextDump = "__impulse_context_dump"
        case setMessage = "__impulse_set_message"
        case takeMessage = "__impulse_take_message"
        case takeRecipients = "__impulse_take_recipients"
        case takeChanges = "__impulse_take_changes"
        case routingDomain = "__impulse_routing_domain"
        case addBinding = "__impulse_add_binding"
        /// The module (and script) a session is running, for failure reports.
        case runningModule = "__impulse_running_module"
        /// Hook points outside callouts (delivery log hooks …).
        case fireHook = "__impulse_fire_hook"
        /// Every module's init / deinit.
        case initialize = "__impulse_init"
        case deinitialize = "__impulse_deinit"
        /// msys.registerControl: the registered command names, and running one.
        case controls = "__impulse_controls"
        case runControl = "__impulse_run_control"
        /// SMTP AUTH through a msys.registerAuth scheme: `"ok"`, `"fail"`, or `"error"` and why.
        case authenticate = "__impulse_authenticate"
        /// A timer fired: run its callback.
        case timerFire = "__impulse_timer_fire"
        /// Pool states: run a marshalled job; the scheduler: run a job's completion.
        case poolRun = "__impulse_pool_run"
        case poolComplete = "__impulse_pool_complete"
        /// msys.httpsrv.register's endpoints: run the one a request names.
        case httpEndpoint = "__impulse_httpsrv_run"
        /// Turn on per-module timing (metrics served).
        case enableModuleTiming = "__impulse_enable_module_timing"
    }

    /// What a callout coroutine yields when its callout finished with something to report:
    /// `calloutDone, status, …` (see `CalloutReport`). A callout that decided and changed nothing
    /// yields the number 0 alone.
    static let calloutDone = "__impulse_done"

    /// What `SwiftFunction.suspend` yields after it stored the decoded `PolicyEffect`.
    static let effectMarker = "__impulse_effect"

    /// Every shared name, once.
    static var allNames: [String] {
        SwiftFunction.allCases.map(\.rawValue) + SwiftValue.allCases.map(\.rawValue)
            + ShimFunction.allCases.map(\.rawValue)
            + LuaEntry.allCases.map(\.rawValue) + [calloutDone, effectMarker]
    }
}

/// What one callout reported when it finished (the values after `ScriptletABI.calloutDone`, or
/// what `LuaEntry.fireHook` returns): `"ok", code, text, disconnect, discard, recipients changed,
/// envelope changed` or `"error", module, script, message`.
struct CalloutReport {
    var outcome: CalloutOutcome
    /// The session's recipient list changed (msg:rcptto …).
    var recipientsChanged = false
    /// Envelope changes wait to be taken (PolicyState.takeChanges).
    var changesPending = false

    init(_ values: ArraySlice<LuaValue>, callout: String) {
        func text(_ offset: Int) -> String? {
            let index = values.startIndex + offset
            if index < values.endIndex, case .string(let value) = values[index] { return value }
            return nil
        }
        func flag(_ offset: Int) -> Bool {
            let index = values.startIndex + offset
            return index < values.endIndex && values[index] == .boolean(true)
        }
        if text(0) == "error" {
            outcome = .failed(
                ScriptletFailure(
                    module: text(1) ?? "?", script: text(2) ?? "?", callout: callout, message: text(3) ?? "?"))
            return
        }
        recipientsChanged = flag(5)
        changesPending = flag(6)
        // The prelude checks codes (200–599) where scripts set them; anything else is no code.
        let codeIndex = values.startIndex + 1
        guard codeIndex < values.endIndex, let code = values[codeIndex].integer(in: 200...599) else {
            outcome = .proceed
            return
        }
        outcome = flag(3) ? .disconnect(code: code, text: text(2)) : .reply(code: code, text: text(2))
    }
}

extension LuaState {
    func setInternal(_ name: ScriptletABI.SwiftFunction, _ function: @escaping Function) {
        setInternal(name.rawValue, function)
    }

    func setInternal(_ name: ScriptletABI.SwiftValue, value: LuaValue) {
        setInternal(name.rawValue, value: value)
    }

    func setInternal(_ name: ScriptletABI.SwiftValue, table entries: [(key: LuaValue, value: LuaValue)]) {
        setInternal(name.rawValue, table: entries)
    }

    @discardableResult
    func callInternal(_ entry: ScriptletABI.LuaEntry, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        try callInternal(entry.rawValue, arguments)
    }

    func reference(internal entry: ScriptletABI.LuaEntry) -> LuaReference? {
        reference(internal: entry.rawValue)
    }

    func reference(toResultOfInternal entry: ScriptletABI.LuaEntry) -> LuaReference? {
        reference(toResultOfInternal: entry.rawValue)
    }
}
