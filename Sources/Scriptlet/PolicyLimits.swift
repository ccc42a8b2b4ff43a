import ImpulseConfig
import SMTPProtocol

/// Every bound the policy runtime puts on scripts, with why (docs/lua/README.md, "Sandbox";
/// docs/threat-model.md). `max_memory` (scriptlet scope) is the one an operator sets.
public enum PolicyLimits {
    /// VM instructions one callout (timer callback, hook, pool job, console command …) may run
    /// before the watchdog stops it: about a tenth of a second of interpretation, far more than
    /// a policy needs, far less than a client waits.
    public static let instructionBudget = 50_000_000
    /// `max_memory`'s default: octets one policy Lua state may hold (the configuration's).
    public static let defaultMemoryLimit = ScriptletConfiguration.defaultMaxMemory
    /// The longest single msys.sleep or vctx:tarpit, in seconds (a client waits that long).
    public static let maxSleep = 300.0
    /// The longest msys.timer delay and gauge_cache time-to-live, in seconds: a year.
    public static let maxTimerDelay = 31_536_000.0
    /// The largest amount one gauge_cache inc/dec may add (keeps the sums far from overflow).
    public static let maxGaugeStep = 1_000_000_000
    /// Largest file msys.readfile returns: a script cannot make a session hold more.
    public static let maxReadFile = 16 * 1024 * 1024
    /// Octets of one msys.db statement's text at most.
    public static let maxDatabaseStatement = 1 << 20
    /// Parameters of one msys.db statement at most.
    public static let maxDatabaseParameters = 1000
    /// The longest time one msys.http request may take, in seconds (set_timeout is capped there).
    public static let maxHTTPTimeout = 60.0
    /// The time an msys.http request takes at most when the script sets none, in seconds.
    public static let defaultHTTPTimeout = 30.0
    /// Octets of an msys.http request body, and of a response body, at most.
    public static let maxHTTPBody = 4 << 20
    /// Request header fields one msys.http client sends at most.
    public static let maxHTTPHeaders = 100
    /// Octets of a msys.shared_throttle name at most (it is part of the store's key).
    public static let maxThrottleName = 256
    /// Keys one msys.audit_series keeps at most (client addresses: a peer chooses how many).
    public static let maxAuditSeriesKeys = 100_000
    /// Windows one msys.audit_series keeps at most, and the longest window, in seconds.
    public static let maxAuditSeriesWindows = 10_000
    public static let maxAuditSeriesInterval = 31_536_000
    /// MIME parts msg:mime takes apart at most, and how deep multiparts nest before one is
    /// taken as a leaf: a message cannot make the parse or the part tree unbounded.
    public static let maxMIMEParts = MIMEStructure.maxParts
    public static let maxMIMEDepth = MIMEStructure.maxDepth
    /// Compiled msys.pcre patterns kept per state (Momentum's pcre_cache_size default).
    public static let pcreCacheSize = 100
    /// Waits one callout may have answered at once (cached DNS answers) before it suspends
    /// anyway: each resumption gets a fresh watchdog budget, so without this bound a script that
    /// looped on a cached look-up would never give the event loop back.
    public static let immediateEffectsPerStep = 64
    /// Finished callout coroutines kept for reuse per state.
    public static let idleWorkers = 32
    /// Nesting of blocks and expressions the Threaded Lua translator accepts (LuaJIT's own limit,
    /// "chunk has too many syntax levels"): deeper input would overflow the translator's stack.
    public static let maxTranslatorNesting = 200
}
