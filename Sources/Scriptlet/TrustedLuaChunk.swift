/// Impulse's own Lua, run in every policy state before the operator's scripts, in this order.
/// The sources are the `.lua` files in `Lua/`, compiled into the binary (SwiftPM's
/// `embedInCode`); each runs under its file's name, so a traceback names the real file and line.
enum TrustedLuaChunk: CaseIterable {
    /// The `msys` table, `msys.registerModule`, the session bookkeeping, the vctx / ec_string /
    /// accept / msg objects and the callout dispatcher.
    case prelude
    /// The msys library functions and the packages `require` loads.
    case library
    /// `msys.runInPool` and `msys.threadpool`: marshalling jobs to and from pool states.
    case threadPools
    /// `msys.timer` and friends.
    case timers
    /// `msys.db` / `msys.datasource`: queries to the configuration's datasources.
    case datasources
    /// `msys.http.client`: HTTP requests from scripts.
    case http
    /// `msg:mime` and MIME part objects.
    case mime
    /// `msys.shared_throttle`: named rate limits shared by every state and node.
    case throttles

    /// The chunk name tracebacks show: the file's name.
    var fileName: String {
        switch self {
        case .prelude: "impulse-prelude.lua"
        case .library: "impulse-library.lua"
        case .threadPools: "impulse-threadpools.lua"
        case .timers: "impulse-timers.lua"
        case .datasources: "impulse-datasource.lua"
        case .http: "impulse-http.lua"
        case .mime: "impulse-mime.lua"
        case .throttles: "impulse-throttles.lua"
        }
    }

    /// The file's text.
    var source: String {
        let octets: [UInt8]
        switch self {
        case .prelude: octets = PackageResources.impulse_prelude_lua
        case .library: octets = PackageResources.impulse_library_lua
        case .threadPools: octets = PackageResources.impulse_threadpools_lua
        case .timers: octets = PackageResources.impulse_timers_lua
        case .datasources: octets = PackageResources.impulse_datasource_lua
        case .http: octets = PackageResources.impulse_http_lua
        case .mime: octets = PackageResources.impulse_mime_lua
        case .throttles: octets = PackageResources.impulse_throttles_lua
        }
        return String(decoding: octets, as: UTF8.self)
    }
}
