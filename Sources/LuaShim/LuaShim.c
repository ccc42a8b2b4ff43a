#include <dlfcn.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <luajit.h>
#include "LuaShim.h"
#include "ShimInternal.h"

static impulse_lua_dispatcher dispatcher = NULL;

void impulse_lua_set_dispatcher(impulse_lua_dispatcher d) { dispatcher = d; }

/* Per-state data Impulse keeps in C, reached through the allocator's user data (cheaper than a
   registry field with a string key: the watchdog reads and writes it twice per callout). */
typedef struct impulse_state_data {
    long watchdog_remaining;
    /* The memory limit: octets the state holds, its ceiling (0 = none), whether Lua code is
       running under a protected call Impulse started (the only time an allocation may be
       refused), and whether one was refused since the flag was last cleared. */
    size_t in_use;
    size_t limit;
    int enforce;
    int exceeded;
} impulse_state_data;

static impulse_state_data *state_data(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (impulse_state_data *)ud;
}

void impulse_lua_close_state(lua_State *L);

/* The allocator. Past the state's memory limit it refuses to grow while Lua code runs inside a
   protected call (LuaJIT then raises "not enough memory", which that call catches); everywhere
   else — Swift pushing values, Impulse's own bookkeeping, error messages — it never fails, so
   nothing unprotected can raise (docs/architecture.md, "The Lua bridge"). Only the system running out of memory aborts. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    impulse_state_data *data = (impulse_state_data *)ud;
    size_t old = ptr == NULL ? 0 : osize;
    if (nsize == 0) {
        free(ptr);
        data->in_use -= old < data->in_use ? old : data->in_use;
        return NULL;
    }
    if (nsize > old && data->limit > 0 && data->enforce && data->in_use + (nsize - old) > data->limit) {
        data->exceeded = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        fprintf(stderr, "impulse: out of memory in a Lua state (%zu octets); aborting\n", nsize);
        abort();
    }
    data->in_use = data->in_use - (old < data->in_use ? old : data->in_use) + nsize;
    return p;
}

void impulse_lua_set_memory_limit(lua_State *L, size_t limit) { state_data(L)->limit = limit; }
size_t impulse_lua_memory_in_use(lua_State *L) { return state_data(L)->in_use; }
int impulse_lua_take_memory_exceeded(lua_State *L) {
    impulse_state_data *data = state_data(L);
    int exceeded = data->exceeded;
    data->exceeded = 0;
    return exceeded;
}

static int panic_handler(lua_State *L) {
    fprintf(stderr, "impulse: unprotected Lua error: %s\n", lua_tostring(L, -1));
    abort();
    return 0;
}

static void clear_field(lua_State *L, const char *table, const char *field) {
    lua_getglobal(L, table);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_setfield(L, -2, field);
    }
    lua_pop(L, 1);
}

/* Impulse's internals: a table only trusted chunks see as their environment. Reads fall back to
   the globals; a trusted chunk's assignment to a `__impulse…` name stays here, any other goes
   to the globals (so the prelude still defines `msys`, `print`, …). Scripts never get it: it is
   reached through the registry only, and getfenv never returns it. */
static const char internals_key[] = "impulse.internals";

static int internals_newindex(lua_State *L) {
    size_t length = 0;
    const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &length) : NULL;
    if (name != NULL && length >= 9 && memcmp(name, "__impulse", 9) == 0) {
        lua_rawset(L, 1);
    } else {
        lua_rawset(L, LUA_GLOBALSINDEX);
    }
    return 0;
}

void impulse_lua_push_internals(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, internals_key);
}

static void make_internals(lua_State *L) {
    lua_newtable(L);
    lua_newtable(L);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, internals_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, internals_key);
}

/* Loads one of the sandbox's own chunks with the internals table as its environment (its
   functions are Impulse's: setfenv refuses them, and the watchdog names the script that called
   them rather than their lines). */
static int load_sandbox_chunk(lua_State *L, const char *text, size_t length, const char *name) {
    if (luaL_loadbuffer(L, text, length, name) != 0) return 1;
    impulse_lua_push_internals(L);
    lua_setfenv(L, -2);
    return 0;
}

/* Runs a sandbox chunk with the internals table as its first argument. */
static int run_sandbox_chunk(lua_State *L, const char *text, size_t length, const char *name) {
    if (load_sandbox_chunk(L, text, length, name) != 0) return 1;
    impulse_lua_push_internals(L);
    return lua_pcall(L, 1, 0, 0) != 0;
}

lua_State *impulse_lua_new_state(int jit_on) {
    impulse_state_data *data = calloc(1, sizeof *data);
    if (data == NULL) return NULL;
    data->watchdog_remaining = LONG_MAX / 2;
    lua_State *L = lua_newstate(limited_alloc, data);
    if (L == NULL) { free(data); return NULL; }
    lua_atpanic(L, panic_handler);
    luaL_openlibs(L);
    impulse_lua_open_bounded_library(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | (jit_on ? LUAJIT_MODE_ON : LUAJIT_MODE_OFF));
    make_internals(L);
    /* Sandbox (docs/lua/README.md, "Sandbox"). */
    lua_pushnil(L); lua_setglobal(L, "newproxy");
    lua_pushnil(L); lua_setglobal(L, "ffi");
    clear_field(L, "os", "execute");
    clear_field(L, "io", "popen");
    clear_field(L, "debug", "setmetatable");
    clear_field(L, "debug", "getmetatable");
    clear_field(L, "debug", "sethook");
    clear_field(L, "package", "loadlib");   /* would load any shared object, ffi included */
    clear_field(L, "os", "exit");           /* a script must not stop the server */
    /* Source text only: bytecode can break out of any Lua sandbox. `require` finds modules through
       package.preload and a text-only search of package.path; the C searchers (which load any
       shared object on package.cpath) are gone. getfenv never hands out Impulse's internals, and
       setfenv cannot change the environment of Impulse's own functions. */
    static const char text_only[] =
        "local internals = ...\n"
        "local load, loadfile, getfenv, setfenv, type, error = load, loadfile, getfenv, setfenv, type, error\n"
        "local searchpath, G = package.searchpath, _G\n"
        "_G.load = function(chunk, name, mode, env) return load(chunk, name, 't', env) end\n"
        "_G.loadstring = function(text, name) return load(text, name, 't') end\n"
        "_G.loadfile = function(path, mode, env) return loadfile(path, 't', env) end\n"
        "_G.dofile = function(path) local f = assert(G.loadfile(path)) return f() end\n"
        "local function lua_searcher(name)\n"
        "  local path, message = searchpath(name, package.path)\n"
        "  if not path then return message end\n"
        "  local chunk, failure = loadfile(path, 't')\n"
        "  if not chunk then error(\"error loading module '\" .. name .. \"' from file '\" .. path .. \"':\\n\\t\" .. failure, 2) end\n"
        "  return chunk\n"
        "end\n"
        "package.loaders = { package.loaders[1], lua_searcher }\n"
        "package.cpath = ''\n"
        "local function level(f) if type(f) == 'number' and f > 0 then return f + 1 end return f end\n"
        "_G.getfenv = function(f)\n"
        "  if f == nil then f = 1 end\n"
        "  local env = getfenv(level(f))\n"
        "  if env == internals then return G end\n"
        "  return env\n"
        "end\n"
        "_G.setfenv = function(f, env)\n"
        "  if f == nil then f = 1 end\n"
        "  if getfenv(level(f)) == internals then error('setfenv: cannot change the environment of an Impulse function', 2) end\n"
        "  local result = setfenv(level(f), env)\n"
        "  return result\n"
        "end\n";
    if (run_sandbox_chunk(L, text_only, sizeof(text_only) - 1, "=impulse-sandbox") != 0) {
        impulse_lua_close_state(L);
        return NULL;
    }
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushnil(L); lua_setfield(L, -2, "ffi");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushnil(L); lua_setfield(L, -2, "ffi");
    lua_pop(L, 2);
    return L;
}

/* watchdog_fired(): true once the armed budget ran out (for the pcall wrappers). */
static int lua_watchdog_fired(lua_State *L) {
    lua_pushboolean(L, state_data(L)->watchdog_remaining <= 0);
    return 1;
}

/* What only trusted code (Impulse's prelude) may use: it captures these before the seal. */
void impulse_lua_seal(lua_State *L) {
    clear_field(L, "debug", "getupvalue");   /* would reach the raw load inside the wrappers */
    clear_field(L, "debug", "setupvalue");
    clear_field(L, "debug", "upvalueid");
    clear_field(L, "debug", "upvaluejoin");
    clear_field(L, "debug", "getregistry");
    clear_field(L, "debug", "getfenv");
    clear_field(L, "debug", "setfenv");
    clear_field(L, "debug", "getlocal");     /* would read (and write) the locals of Impulse's frames */
    clear_field(L, "debug", "setlocal");
    clear_field(L, "debug", "debug");        /* an interactive prompt on standard input */
    impulse_lua_push_internals(L);
    lua_pushnil(L); lua_setfield(L, -2, "__impulse_load_binary");
    lua_pushnil(L); lua_setfield(L, -2, "__impulse_monotonic");
    lua_pop(L, 1);
    /* debug.getinfo without the `func` field: a frame's function may be one of Impulse's
       (a thread pool's job runner would load any bytecode it is given). The JIT library goes:
       jit.on() would run compiled loops the watchdog's count hook never sees, and jit.util
       reads any function's constants. */
    static const char seal[] =
        "local internals, fired = ...\n"
        "local getinfo, type, error, select = debug.getinfo, type, error, select\n"
        /* pcall, xpcall and coroutine.resume/wrap cannot swallow the watchdog: once the budget
           ran out, an error they caught is raised again, up to Impulse's own protected call. */
        "local raw_pcall, raw_xpcall, raw_resume, create = pcall, xpcall, coroutine.resume, coroutine.create\n"
        "local function pass(ok, ...)\n"
        "  if not ok and fired() then error((...), 0) end\n"
        "  return ok, ...\n"
        "end\n"
        /* Impulse's own code catches at its boundaries (a console command, a pool job, a timer)
           and reports; it keeps the plain functions in its environment. */
        "rawset(internals, 'pcall', raw_pcall)\n"
        "rawset(internals, 'xpcall', raw_xpcall)\n"
        "_G.pcall = function(f, ...) return pass(raw_pcall(f, ...)) end\n"
        "_G.xpcall = function(f, handler, ...) return pass(raw_xpcall(f, handler, ...)) end\n"
        "coroutine.resume = function(co, ...) return pass(raw_resume(co, ...)) end\n"
        "coroutine.wrap = function(f)\n"
        "  local co = create(f)\n"
        "  return function(...)\n"
        "    local function unwrap(ok, ...) if not ok then error((...), 0) end return ... end\n"
        "    return unwrap(pass(raw_resume(co, ...)))\n"
        "  end\n"
        "end\n"
        "debug.getinfo = function(a, b, c)\n"
        "  local info\n"
        "  if type(a) == 'thread' then info = getinfo(a, b, c)\n"
        "  elseif type(a) == 'number' and a > 0 then info = getinfo(a + 1, b)\n"
        "  else info = getinfo(a, b) end\n"
        "  if type(info) == 'table' then info.func = nil end\n"
        "  return info\n"
        "end\n"
        "_G.jit = nil\n"
        "for name in pairs(package.loaded) do if name == 'jit' or name:find('^jit%.') then package.loaded[name] = nil end end\n"
        "for name in pairs(package.preload) do if name == 'jit' or name:find('^jit%.') then package.preload[name] = nil end end\n";
    if (load_sandbox_chunk(L, seal, sizeof(seal) - 1, "=impulse-seal") != 0
        || (impulse_lua_push_internals(L), lua_pushcfunction(L, lua_watchdog_fired), lua_pcall(L, 2, 0, 0)) != 0) {
        /* Cannot fail short of memory exhaustion, which aborts; leave nothing half-sealed. */
        fprintf(stderr, "impulse: sealing a Lua state failed: %s\n", lua_tostring(L, -1));
        abort();
    }
}

/* monotonic(): seconds on CLOCK_MONOTONIC, for timing each module's callouts. */
static int monotonic(lua_State *L) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    lua_pushnumber(L, (lua_Number)now.tv_sec + (lua_Number)now.tv_nsec / 1e9);
    return 1;
}

/* load_binary(chunk, name): loads source or bytecode (for functions Impulse moves between its
   own states); never reachable by scripts after the seal. */
static int load_binary(lua_State *L) {
    size_t length = 0;
    const char *chunk = luaL_checklstring(L, 1, &length);
    const char *name = luaL_optstring(L, 2, "=impulse-marshal");
    if (luaL_loadbuffer(L, chunk, length, name) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

void impulse_lua_expose_binary_loader(lua_State *L) {
    impulse_lua_push_internals(L);
    lua_pushcfunction(L, load_binary);
    lua_setfield(L, -2, "__impulse_load_binary");
    lua_pushcfunction(L, monotonic);
    lua_setfield(L, -2, "__impulse_monotonic");
    lua_pop(L, 1);
}

void impulse_lua_set_owner(lua_State *L, void *owner) {
    lua_pushlightuserdata(L, owner);
    lua_setfield(L, LUA_REGISTRYINDEX, "impulse.state");
}

void *impulse_lua_owner(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "impulse.state");
    void *owner = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return owner;
}

static int call_swift(lua_State *L) {
    int id = (int)lua_tointeger(L, lua_upvalueindex(1));
    int yield_count = 0;
    impulse_state_data *data = state_data(L);
    int enforcing = data->enforce;
    data->enforce = 0;   /* what Swift pushes never fails */
    int status = dispatcher ? dispatcher(L, id, &yield_count) : IMPULSE_LUA_RAISE;
    data->enforce = enforcing;
    if (!dispatcher) lua_pushliteral(L, "impulse: no Swift dispatcher installed");
    /* The Swift frame has returned: raising or yielding is safe now. */
    if (status == IMPULSE_LUA_RAISE) return lua_error(L);
    if (status == IMPULSE_LUA_YIELD) return lua_yield(L, yield_count);
    return status;
}

void impulse_lua_push_function(lua_State *L, int id) {
    lua_pushinteger(L, id);
    lua_pushcclosure(L, call_swift, 1);
}

static int traceback(lua_State *L) {
    const char *message = lua_tostring(L, 1);
    if (message == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

int impulse_lua_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    impulse_state_data *data = state_data(L);
    int enforcing = data->enforce;
    data->enforce = 1;
    int status = lua_pcall(L, nargs, nresults, base);
    data->enforce = enforcing;
    lua_remove(L, base);
    return status;
}

int impulse_lua_resume(lua_State *co, int nargs) {
    impulse_state_data *data = state_data(co);
    int enforcing = data->enforce;
    data->enforce = 1;
    int status = lua_resume(co, nargs);
    data->enforce = enforcing;
    if (status != 0 && status != LUA_YIELD) {
        const char *message = lua_tostring(co, -1);
        luaL_traceback(co, co, message ? message : "(error object is not a string)", 0);
        lua_remove(co, -2);
    }
    return status;
}

int impulse_lua_load_text(lua_State *L, const char *text, size_t length, const char *chunkname) {
    if (length > 0 && text[0] == LUA_SIGNATURE[0]) {
        lua_pushfstring(L, "%s: precompiled chunks are not accepted", chunkname);
        return LUA_ERRSYNTAX;
    }
    return luaL_loadbuffer(L, text, length, chunkname);
}

void impulse_lua_close_state(lua_State *L) {
    impulse_state_data *data = state_data(L);
    lua_close(L);
    free(data);
}

static void watchdog_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    impulse_state_data *data = state_data(L);
    data->watchdog_remaining -= 10000;
    long remaining = data->watchdog_remaining;
    if (remaining > 0) return;
    if (remaining > -10000) luaL_error(L, "watchdog: script ran too long");
    /* The script caught that error and ran on (through a coroutine.resume, or code the pcall
       wrappers do not cover): leave its coroutine for good. A yield from a count hook is not
       catchable by pcall (LuaJIT adds a pseudo-frame); Impulse then drops the coroutine. Outside
       a coroutine keep raising; the pcall wrappers pass it on. */
    int main_thread = lua_pushthread(L);
    lua_pop(L, 1);
    if (!main_thread) lua_yield(L, 0);
    luaL_error(L, "watchdog: script ran too long");
}

void impulse_lua_charge_work(lua_State *L, long steps) {
    void *ud = NULL;
    if (lua_getallocf(L, &ud) != limited_alloc) return;
    impulse_state_data *data = (impulse_state_data *)ud;
    data->watchdog_remaining -= steps;
    if (data->watchdog_remaining > 0) return;
    /* Name the nearest script line: the C function may have been called by pcall (or by one of
       Impulse's own wrappers), not by the script itself. */
    lua_Debug frame;
    for (int level = 1; lua_getstack(L, level, &frame); level++) {
        if (!lua_getinfo(L, "Slf", &frame)) continue;
        lua_getfenv(L, -1);
        impulse_lua_push_internals(L);
        int trusted = lua_rawequal(L, -1, -2);
        lua_pop(L, 3);
        if (!trusted && frame.currentline > 0) {
            lua_pushfstring(L, "%s:%d: watchdog: script ran too long", frame.short_src, frame.currentline);
            lua_error(L);
        }
    }
    lua_pushliteral(L, "watchdog: script ran too long");
    lua_error(L);
}

void impulse_lua_open_bounded_library(lua_State *L) {
    lua_getglobal(L, "string");
    impulse_lua_register_bounded_patterns(L);
    lua_pop(L, 1);
    lua_getglobal(L, "table");
    impulse_lua_register_bounded_sort(L);
    lua_pop(L, 1);
}

int impulse_lua_watchdog_armed(lua_State *L) {
    return state_data(L)->watchdog_remaining < LONG_MAX / 4;
}

int impulse_lua_watchdog_fired(lua_State *L) {
    return state_data(L)->watchdog_remaining <= 0;
}

/* The count hook stays installed once armed; disarming only lifts the budget out of reach.
   Installing or removing a hook rewrites LuaJIT's dispatch table, which costs more than the
   callout it would guard when done twice per callout. */
#define IMPULSE_WATCHDOG_DISARMED (LONG_MAX / 2)

void impulse_lua_set_watchdog(lua_State *L, long budget) {
    state_data(L)->watchdog_remaining = budget > 0 ? budget : IMPULSE_WATCHDOG_DISARMED;
    if (budget > 0 && lua_gethook(L) != watchdog_hook) lua_sethook(L, watchdog_hook, LUA_MASKCOUNT, 10000);
}

int impulse_lua_open_cjson(lua_State *L, const char *name) {
    void *library = dlopen("liblua5.1-cjson.so.0", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return 0;
    lua_CFunction open = (lua_CFunction)dlsym(library, "luaopen_cjson");
    if (open == NULL) return 0;
    lua_pushcfunction(L, open);
    if (lua_pcall(L, 0, 1, 0) != 0) {
        lua_pop(L, 1);
        return 0;
    }
    impulse_lua_push_internals(L);
    lua_insert(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 1;
}

static int collect_all(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}

int impulse_lua_collect(lua_State *L) {
    /* Protected: a finalizer (__gc) may run Lua code that raises. Not a global a script could
       replace (collectgarbage), and the memory limit does not apply (enforce stays off). */
    return lua_cpcall(L, collect_all, NULL);
}
