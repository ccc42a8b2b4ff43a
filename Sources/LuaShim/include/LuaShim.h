#ifndef IMPULSE_LUA_SHIM_H
#define IMPULSE_LUA_SHIM_H

/// The project's own C layer between Swift and LuaJIT (docs/architecture.md, "The Lua bridge"). Everything that can raise a
/// Lua error or yield happens here, after the Swift frame that decided it has returned, so no
/// longjmp ever crosses Swift code.

#include <stddef.h>
#include <lua.h>

/// Status a Swift function callback returns instead of raising.
enum {
    /// Raise the error message the callback left on top of the stack.
    IMPULSE_LUA_RAISE = -1,
    /// Yield the running coroutine with the values the callback left (count in *yield_count).
    IMPULSE_LUA_YIELD = -2,
};

/// Swift's dispatcher: runs callback `id` with the Lua stack as its arguments. Returns the number
/// of results left on the stack (>= 0), or IMPULSE_LUA_RAISE / IMPULSE_LUA_YIELD.
typedef int (*impulse_lua_dispatcher)(lua_State *L, int id, int *yield_count);

/// Installs the dispatcher every Swift function pushed with impulse_lua_push_function calls.
void impulse_lua_set_dispatcher(impulse_lua_dispatcher dispatcher);

/// The state's memory limit in octets (0: none). Past it, allocations made by Lua code running
/// under impulse_lua_pcall / impulse_lua_resume fail ("not enough memory", caught by that
/// call); allocations made while Swift runs never fail.
void impulse_lua_set_memory_limit(lua_State *L, size_t limit);
/// Octets the state's allocator holds now.
size_t impulse_lua_memory_in_use(lua_State *L);
/// True (once) when an allocation was refused for the limit since the last call.
int impulse_lua_take_memory_exceeded(lua_State *L);

/// A full garbage-collection cycle under a protected call; 0 on success.
int impulse_lua_collect(lua_State *L);

/// A new state whose allocator never fails outside Lua code Impulse runs protected (so pushes
/// from Swift cannot raise; see impulse_lua_set_memory_limit),
/// with the standard libraries opened and the sandbox applied: no ffi, newproxy, os.execute,
/// io.popen, debug.setmetatable/getmetatable/sethook; the JIT off unless
/// `jit_on` (Debian's LuaJIT runs no count hook inside compiled loops).
lua_State *impulse_lua_new_state(int jit_on);

/// Replaces the pattern functions of the string library (find, match, gmatch, gsub) and
/// table.sort with Impulse's, whose work is charged to the watchdog (plain search linear, sort
/// O(n log n) on every input), in any state (impulse_lua_new_state does it). Same results and
/// errors as LuaJIT's.
void impulse_lua_open_bounded_library(lua_State *L);

/// Pushes a Lua function that calls Swift callback `id`.
void impulse_lua_push_function(lua_State *L, int id);

/// lua_pcall with a traceback message handler. On error the message (with traceback) is on top.
int impulse_lua_pcall(lua_State *L, int nargs, int nresults);

/// Records the Swift object that owns state `L` (in its registry), and reads it back.
void impulse_lua_set_owner(lua_State *L, void *owner);
void *impulse_lua_owner(lua_State *L);

/// True while the watchdog is armed.
int impulse_lua_watchdog_armed(lua_State *L);

/// True when the watchdog's budget ran out during the last armed run.
int impulse_lua_watchdog_fired(lua_State *L);

/// Loads lua-cjson (Debian's liblua5.1-cjson) and sets internal `name` to its module table;
/// 0 when the library is not installed.
int impulse_lua_open_cjson(lua_State *L, const char *name);

/// Pushes the state's internals table: the environment of Impulse's own (trusted) chunks, which
/// holds every `__impulse…` name. Scripts cannot reach it (see impulse_lua_new_state).
void impulse_lua_push_internals(lua_State *L);

/// Removes what only Impulse's own prelude may use (debug upvalue and local access, the
/// registry, function environments, frame functions, the JIT library, the binary loader). Call
/// once the prelude has run.
void impulse_lua_seal(lua_State *L);
/// Sets internals `__impulse_load_binary` (loads bytecode too) and `__impulse_monotonic` (a
/// clock) until `impulse_lua_seal`.
void impulse_lua_expose_binary_loader(lua_State *L);

/// lua_resume; on error pushes a traceback of the coroutine `co` onto `co`'s stack top.
int impulse_lua_resume(lua_State *co, int nargs);

/// Loads a chunk under `chunkname` (text only: bytecode is refused).
int impulse_lua_load_text(lua_State *L, const char *text, size_t length, const char *chunkname);

/// Closes a state made by impulse_lua_new_state and frees Impulse's data for it.
void impulse_lua_close_state(lua_State *L);

/// Arms the watchdog: once `budget` VM instructions (counted every 10000) have run in this
/// state since arming, the running code raises "watchdog: script ran too long". 0 disarms.
void impulse_lua_set_watchdog(lua_State *L, long budget);

/// The wrappers for macros Swift cannot import.
static inline void impulse_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void impulse_lua_newtable(lua_State *L) { lua_newtable(L); }
static inline int impulse_lua_isnil(lua_State *L, int i) { return lua_isnil(L, i); }
static inline int impulse_lua_isfunction(lua_State *L, int i) { return lua_isfunction(L, i); }
static inline int impulse_lua_istable(lua_State *L, int i) { return lua_istable(L, i); }
static inline void impulse_lua_getglobal(lua_State *L, const char *name) { lua_getglobal(L, name); }
static inline void impulse_lua_setglobal(lua_State *L, const char *name) { lua_setglobal(L, name); }
static inline const char *impulse_lua_tolstring(lua_State *L, int i, size_t *len) { return lua_tolstring(L, i, len); }
static inline int impulse_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int impulse_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int impulse_lua_globalsindex(void) { return LUA_GLOBALSINDEX; }

#endif
