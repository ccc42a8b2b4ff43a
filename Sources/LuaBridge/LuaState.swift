import CLuaJIT
import LuaShim

/// One LuaJIT state, confined to the thread that uses it (a `lua_State` is never touched by two
/// threads). Every call into Lua is protected; Swift functions exposed to Lua return a result
/// and the C shim raises or yields after they have returned (docs/architecture.md, "The Lua bridge").
public final class LuaState {
    /// What a Swift function exposed to Lua answers.
    public enum FunctionResult {
        case values([LuaValue])
        /// Raise a Lua error with this message.
        case error(String)
        /// Yield the running coroutine with these values.
        case yield([LuaValue])
        /// Return one new, empty userdata whose metatable is the registry's `metatableKey` entry
        /// (for objects that need `__len`, which LuaJIT honours on userdata only).
        case newUserdata(metatableKey: String)
    }

    /// A Swift function callable from Lua; it reads its arguments from `LuaArguments`.
    public typealias Function = (LuaArguments) -> FunctionResult

    public let pointer: OpaquePointer
    var functions: [Function] = []

    /// A sandboxed state (see `impulse_lua_new_state`); `jit` turns the JIT compiler on. An
    /// unsealed state still has debug upvalue access and a bytecode loader for trusted code to
    /// capture: run it, then `seal()` before any script loads.
    public init(jit: Bool = false, sealed: Bool = true) {
        LuaState.installDispatcher
        guard let state = impulse_lua_new_state(jit ? 1 : 0) else {
            fatalError("impulse: cannot create a Lua state") // only on allocation failure, which aborts anyway
        }
        pointer = state
        impulse_lua_set_owner(pointer, Unmanaged.passUnretained(self).toOpaque())
        if sealed { impulse_lua_seal(pointer) } else { impulse_lua_expose_binary_loader(pointer) }
    }

    deinit { impulse_lua_close_state(pointer) }

    /// Completes the sandbox of an unsealed state (see `init`).
    public func seal() { impulse_lua_seal(pointer) }

    /// Installs the one C-callable dispatcher, once per process.
    static let installDispatcher: Void = {
        impulse_lua_set_dispatcher { state, id, yieldCount in
            guard let state else { return Int32(IMPULSE_LUA_RAISE) }
            guard let raw = impulse_lua_owner(state) else {
                lua_pushstring(state, "impulse: Lua state has no Swift owner")
                return Int32(IMPULSE_LUA_RAISE)
            }
            let owner = Unmanaged<LuaState>.fromOpaque(raw).takeUnretainedValue()
            return owner.dispatch(state, Int(id), yieldCount)
        }
    }()

    func dispatch(_ thread: OpaquePointer, _ id: Int, _ yieldCount: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard functions.indices.contains(id) else {
            lua_pushstring(thread, "impulse: unknown Swift function \(id)")
            return Int32(IMPULSE_LUA_RAISE)
        }
        let arguments = LuaArguments(thread: thread, count: Int(lua_gettop(thread)))
        switch functions[id](arguments) {
        case .values(let values):
            for value in values { Self.push(value, on: thread) }
            return Int32(values.count)
        case .error(let message):
            lua_pushstring(thread, message)
            return Int32(IMPULSE_LUA_RAISE)
        case .newUserdata(let key):
            _ = lua_newuserdata(thread, 1)
            lua_getfield(thread, impulse_lua_registryindex(), key)
            lua_setmetatable(thread, -2)
            return 1
        case .yield(let values):
            lua_settop(thread, 0)
            for value in values { Self.push(value, on: thread) }
            yieldCount?.pointee = Int32(values.count)
            return Int32(IMPULSE_LUA_YIELD)
        }
    }

    /// Pushes a Swift function onto the stack.
    public func pushFunction(_ function: @escaping Function) {
        functions.append(function)
        impulse_lua_push_function(pointer, Int32(functions.count - 1))
    }

    /// Sets global `name` to a Swift function.
    public func setGlobal(_ name: String, _ function: @escaping Function) {
        pushFunction(function)
        impulse_lua_setglobal(pointer, name)
    }

    /// Sets internal `name` (see `runTrusted`) to a Swift function: Impulse's own chunks reach
    /// it as a global, scripts cannot reach it at all.
    public func setInternal(_ name: String, _ function: @escaping Function) {
        impulse_lua_push_internals(pointer)
        pushFunction(function)
        lua_setfield(pointer, -2, name)
        impulse_lua_pop(pointer, 1)
    }

    /// Sets internal `name` to a plain value (no Lua source is generated for it).
    public func setInternal(_ name: String, value: LuaValue) {
        impulse_lua_push_internals(pointer)
        Self.push(value, on: pointer)
        lua_setfield(pointer, -2, name)
        impulse_lua_pop(pointer, 1)
    }

    /// Sets internal `name` to a new table holding `entries` (keys and values as given; an
    /// array is keys 1…n).
    public func setInternal(_ name: String, table entries: [(key: LuaValue, value: LuaValue)]) {
        impulse_lua_push_internals(pointer)
        impulse_lua_newtable(pointer)
        for (key, value) in entries {
            Self.push(key, on: pointer)
            Self.push(value, on: pointer)
            lua_rawset(pointer, -3)
        }
        lua_setfield(pointer, -2, name)
        impulse_lua_pop(pointer, 1)
    }

    /// Sets field `name` of global table `table` (which must exist) to a plain value, e.g.
    /// `package.path`.
    public func setField(table: String, _ name: String, value: LuaValue) {
        impulse_lua_getglobal(pointer, table)
        guard impulse_lua_istable(pointer, -1) != 0 else {
            impulse_lua_pop(pointer, 1)
            return
        }
        lua_pushlstring(pointer, name, name.utf8.count)
        Self.push(value, on: pointer)
        lua_rawset(pointer, -3)
        impulse_lua_pop(pointer, 1)
    }

    /// The garbage collector's pause and step multiplier (percent), as `collectgarbage('setpause')`
    /// and `collectgarbage('setstepmul')` set them.
    public func tuneGarbageCollector(pause: Int, stepMultiplier: Int) {
        _ = lua_gc(pointer, LUA_GCSETPAUSE, Int32(clamping: pause))
        _ = lua_gc(pointer, LUA_GCSETSTEPMUL, Int32(clamping: stepMultiplier))
    }

    /// Pushes internal `name` (a raw read: no fallback to the globals).
    private func pushInternal(_ name: String) {
        impulse_lua_push_internals(pointer)
        lua_pushlstring(pointer, name, name.utf8.count)
        lua_rawget(pointer, -2)
        lua_remove(pointer, -2)
    }

    /// Sets `table.name` (creating global table `table` if needed) to a Swift function.
    public func setField(table: String, _ name: String, _ function: @escaping Function) {
        impulse_lua_getglobal(pointer, table)
        if !(impulse_lua_istable(pointer, -1) != 0) {
            impulse_lua_pop(pointer, 1)
            impulse_lua_newtable(pointer)
            lua_pushvalue(pointer, -1)
            impulse_lua_setglobal(pointer, table)
        }
        pushFunction(function)
        lua_setfield(pointer, -2, name)
        impulse_lua_pop(pointer, 1)
    }

    /// Loads `source` as a chunk named `chunkName` (error messages say `chunkName:line:`) and
    /// leaves the function on the stack.
    public func load(_ source: String, chunkName: String) throws(LuaError) {
        let status = source.withCString { text in
            // "@name" makes Lua report positions as name:line (not [string "name"]:line).
            impulse_lua_load_text(pointer, text, source.utf8.count, "@" + chunkName)
        }
        if status != 0 { throw popError(status) }
    }

    /// Loads and runs a chunk; returns what it returned.
    @discardableResult
    public func run(_ source: String, chunkName: String) throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(pointer)
        try load(source, chunkName: chunkName)
        return try call(arguments: [], base: base)
    }

    /// Loads and runs one of Impulse's own chunks with the internals table as its environment:
    /// the `__impulse…` names it defines and reads live there, out of scripts' reach; every other
    /// name it reads or assigns is a global as usual.
    @discardableResult
    public func runTrusted(_ source: String, chunkName: String) throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(pointer)
        try load(source, chunkName: chunkName)
        impulse_lua_push_internals(pointer)
        _ = lua_setfenv(pointer, -2)
        return try call(arguments: [], base: base)
    }

    /// Calls internal function `name` with `arguments`.
    @discardableResult
    public func callInternal(_ name: String, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(pointer)
        pushInternal(name)
        return try call(arguments: arguments, base: base)
    }

    /// Calls global function `name` with `arguments`.
    @discardableResult
    public func callGlobal(_ name: String, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(pointer)
        impulse_lua_getglobal(pointer, name)
        return try call(arguments: arguments, base: base)
    }

    /// A reference to global function `name`, for calls that should not look the name up each
    /// time (hot paths); nil when there is no such function.
    public func reference(global name: String) -> LuaReference? {
        impulse_lua_getglobal(pointer, name)
        return takeFunctionReference()
    }

    /// A reference to internal function `name` (see `reference(global:)`).
    public func reference(internal name: String) -> LuaReference? {
        pushInternal(name)
        return takeFunctionReference()
    }

    private func takeFunctionReference() -> LuaReference? {
        guard impulse_lua_isfunction(pointer, -1) != 0 else {
            impulse_lua_pop(pointer, 1)
            return nil
        }
        return LuaReference(value: luaL_ref(pointer, impulse_lua_registryindex()))
    }

    /// A reference to the first value internal function `name` returns (a table Swift then reaches
    /// into with `setFields`); nil when there is no such function or it fails.
    public func reference(toResultOfInternal name: String) -> LuaReference? {
        let base = lua_gettop(pointer)
        defer { lua_settop(pointer, base) }
        pushInternal(name)
        guard impulse_lua_pcall(pointer, 0, 1) == 0, lua_type(pointer, -1) != LUA_TNIL else { return nil }
        return LuaReference(value: luaL_ref(pointer, impulse_lua_registryindex()))
    }

    /// Calls the function `reference` names with `arguments`.
    @discardableResult
    public func call(_ reference: LuaReference, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(pointer)
        lua_rawgeti(pointer, impulse_lua_registryindex(), reference.value)
        return try call(arguments: arguments, base: base)
    }

    /// Sets `fields` in the table found by following `path` (raw gets, no metamethods) from the
    /// table `reference` refers to; false when a step is not a table. Raw sets cannot raise, so
    /// this needs no protected call (the cheap way to fill a few keys on a hot path).
    @discardableResult
    public func setFields(in reference: LuaReference, path: [LuaValue], _ fields: [(String, String)]) -> Bool {
        let base = lua_gettop(pointer)
        defer { lua_settop(pointer, base) }
        lua_rawgeti(pointer, impulse_lua_registryindex(), reference.value)
        for step in path {
            guard lua_type(pointer, -1) == LUA_TTABLE else { return false }
            Self.push(step, on: pointer)
            lua_rawget(pointer, -2)
        }
        guard lua_type(pointer, -1) == LUA_TTABLE else { return false }
        for (key, value) in fields {
            lua_pushlstring(pointer, key, key.utf8.count)
            lua_pushlstring(pointer, value, value.utf8.count)
            lua_rawset(pointer, -3)
        }
        return true
    }

    func call(arguments: [LuaValue], base: Int32) throws(LuaError) -> [LuaValue] {
        for argument in arguments { Self.push(argument, on: pointer) }
        let status = impulse_lua_pcall(pointer, Int32(arguments.count), LUA_MULTRET)
        if status != 0 { throw popError(status) }
        let top = lua_gettop(pointer)
        var results: [LuaValue] = []
        if top > base {
            for index in (base + 1)...top { results.append(Self.value(at: index, on: pointer)) }
        }
        lua_settop(pointer, base)
        return results
    }

    func popError(_ status: Int32) -> LuaError {
        let message = Self.string(at: -1, on: pointer) ?? "(error object is not a string)"
        impulse_lua_pop(pointer, 1)
        let kind: LuaError.Kind
        switch status {
        case LUA_ERRSYNTAX: kind = .syntax
        case LUA_ERRRUN: kind = .runtime
        case LUA_ERRMEM: kind = .memory
        default: kind = .other
        }
        return LuaError(kind: kind, message: message)
    }

    /// The most memory this state may hold while Lua code runs (0: no limit). Past it, the
    /// running code gets Lua's "not enough memory" error; Swift's own pushes never fail.
    public func setMemoryLimit(octets: Int) {
        impulse_lua_set_memory_limit(pointer, max(0, octets))
    }

    /// A full garbage-collection cycle (after a memory-limit failure, so the next callout does
    /// not start at the limit).
    /// Runs under a protected call: a finalizer (`__gc`) may run Lua code, which could raise.
    public func collectGarbage() {
        if impulse_lua_collect(pointer) != 0 { impulse_lua_pop(pointer, 1) }
    }

    /// Octets this state holds now.
    public var memoryInUse: Int { Int(impulse_lua_memory_in_use(pointer)) }

    /// True when an allocation was refused for the memory limit since the last time this was
    /// read (also when the script caught the error and went on).
    public func takeMemoryLimitExceeded() -> Bool { impulse_lua_take_memory_exceeded(pointer) != 0 }

    /// Arms (or with 0 disarms) the runaway-script watchdog, in VM instructions.
    public func setWatchdog(instructions: Int) {
        impulse_lua_set_watchdog(pointer, instructions)
    }

    /// True while the watchdog is armed (an enclosing run armed it).
    public var watchdogArmed: Bool { impulse_lua_watchdog_armed(pointer) != 0 }

    /// True when the armed watchdog's budget ran out (the script was stopped, or — when it kept
    /// catching the error — its coroutine was made to yield for good).
    public var watchdogFired: Bool { impulse_lua_watchdog_fired(pointer) != 0 }

    // MARK: - Values

    /// Pushes a value; never raises (the allocator aborts instead of failing).
    static func push(_ value: LuaValue, on state: OpaquePointer) {
        switch value {
        case .nil, .other: lua_pushnil(state)
        case .boolean(let flag): lua_pushboolean(state, flag ? 1 : 0)
        case .number(let number): lua_pushnumber(state, number)
        case .string(let text): lua_pushlstring(state, text, text.utf8.count)
        case .bytes(let octets): octets.withUnsafeBufferPointer { lua_pushlstring(state, $0.baseAddress, $0.count) }
        }
    }

    static func string(at index: Int32, on state: OpaquePointer) -> String? {
        guard lua_type(state, index) == LUA_TSTRING || lua_type(state, index) == LUA_TNUMBER else { return nil }
        // Converting a number in place would confuse lua_next; copy it first.
        lua_pushvalue(state, index)
        defer { impulse_lua_pop(state, 1) }
        var length = 0
        guard let bytes = impulse_lua_tolstring(state, -1, &length) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    static func value(at index: Int32, on state: OpaquePointer) -> LuaValue {
        switch lua_type(state, index) {
        case LUA_TNIL, LUA_TNONE: return .nil
        case LUA_TBOOLEAN: return .boolean(lua_toboolean(state, index) != 0)
        case LUA_TNUMBER: return .number(lua_tonumber(state, index))
        case LUA_TSTRING:
            var length = 0
            guard let pointer = impulse_lua_tolstring(state, index, &length) else { return .string("") }
            let octets = UnsafeRawBufferPointer(start: pointer, count: length)
            if let text = String(validating: octets, as: UTF8.self) { return .string(text) }
            return .bytes(Array(octets))
        case let type: return .other(String(cString: lua_typename(state, type)))
        }
    }
}

/// The arguments of a Swift function called from Lua (1-based, as in Lua).
public struct LuaArguments {
    let thread: OpaquePointer
    public let count: Int

    public subscript(_ index: Int) -> LuaValue {
        guard index >= 1, index <= count else { return .nil }
        return LuaState.value(at: Int32(index), on: thread)
    }

    /// Stores argument `index` (any Lua value) in the registry under `key`.
    public func storeInRegistry(_ index: Int, key: String) {
        guard index >= 1, index <= count else { return }
        lua_pushvalue(thread, Int32(index))
        lua_setfield(thread, impulse_lua_registryindex(), key)
    }

    /// The argument's octets when it is a string (text or not), or nil.
    public func octets(_ index: Int) -> [UInt8]? {
        guard index >= 1, index <= count, lua_type(thread, Int32(index)) == LUA_TSTRING else { return nil }
        var length = 0
        guard let pointer = impulse_lua_tolstring(thread, Int32(index), &length) else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// The argument as a string (numbers convert), or nil.
    public func string(_ index: Int) -> String? {
        guard index >= 1, index <= count else { return nil }
        return LuaState.string(at: Int32(index), on: thread)
    }
}
