import CLuaJIT
import LuaShim

/// A Lua coroutine running one function: a callout runs in one so that a Swift function can
/// suspend it (DNS, sleep, thread pools) and the event loop resumes it when the answer is there.
public final class LuaCoroutine {
    public enum Outcome {
        /// Suspended by a Swift function's `.yield`; resume it with the answer.
        case yielded([LuaValue])
        case finished([LuaValue])
        case failed(LuaError)
    }

    let state: LuaState
    let thread: OpaquePointer
    let reference: Int32
    public private(set) var isFinished = false

    /// A coroutine that will call global function `name`.
    public init?(state: LuaState, global name: String) {
        self.state = state
        impulse_lua_getglobal(state.pointer, name)
        guard impulse_lua_isfunction(state.pointer, -1) != 0 else {
            impulse_lua_pop(state.pointer, 1)
            return nil
        }
        guard let thread = lua_newthread(state.pointer) else { return nil }
        self.thread = thread
        reference = luaL_ref(state.pointer, impulse_lua_registryindex()) // keeps the thread alive
        lua_xmove(state.pointer, thread, 1) // the function, now the coroutine's body
    }

    /// A coroutine whose body is the function `function` refers to.
    public init?(state: LuaState, function: LuaReference) {
        self.state = state
        guard let thread = lua_newthread(state.pointer) else { return nil }
        self.thread = thread
        reference = luaL_ref(state.pointer, impulse_lua_registryindex())
        lua_rawgeti(state.pointer, impulse_lua_registryindex(), function.value)
        lua_xmove(state.pointer, thread, 1)
    }

    deinit { luaL_unref(state.pointer, impulse_lua_registryindex(), reference) }

    /// Starts or continues the coroutine with `arguments` (the first time: the function's arguments;
    /// later: what the suspended Swift function returns to Lua).
    public func resume(_ arguments: [LuaValue] = []) -> Outcome {
        guard !isFinished else { return .failed(LuaError(kind: .other, message: "cannot resume a finished coroutine")) }
        for argument in arguments { LuaState.push(argument, on: thread) }
        let status = impulse_lua_resume(thread, Int32(arguments.count))
        let values = (0..<lua_gettop(thread)).map { LuaState.value(at: $0 + 1, on: thread) }
        if status == LUA_YIELD {
            lua_settop(thread, 0)
            return .yielded(values)
        }
        isFinished = true
        if status == 0 {
            lua_settop(thread, 0)
            return .finished(values)
        }
        let message = LuaState.string(at: -1, on: thread) ?? "(error object is not a string)"
        lua_settop(thread, 0)
        return .failed(LuaError(kind: status == LUA_ERRMEM ? .memory : .runtime, message: message))
    }
}
