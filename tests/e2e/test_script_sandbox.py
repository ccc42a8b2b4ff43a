"""A policy script is untrusted code: it cannot load bytecode or native code, reach Impulse's
internals, or take the server down with the values it passes (docs/threat-model.md)."""
import re
import subprocess

from conftest import BIN, Raw, begin_data
from test_policy import policy_server

def started(server_factory, name, script, timeout):
    """A running server with one policy script, and a client connected to it."""
    server = policy_server(server_factory, {name: script})
    server.start()
    return server, Raw(server.port, timeout=timeout)


# Walks everything a script can reach from its globals (tables, keys, metatables, function
# environments, stack frames) and tries every escape; returns a list of what got through.
ESCAPE_PROBE = r"""
local probe = {}
local escapes = {}
local function found(what) escapes[#escapes + 1] = what end

local marker = function() return "escaped" end
local bytecode = string.dump(marker)

-- Every function and table reachable from _G, with a path for each.
local function reachable()
  local seen, functions, queue = {}, {}, { { _G, "_G" } }
  local function visit(value, path)
    local kind = type(value)
    if (kind == "table" or kind == "function" or kind == "userdata") and not seen[value] then
      seen[value] = true
      queue[#queue + 1] = { value, path }
    end
  end
  local head = 1
  while head <= #queue do
    local value, path = queue[head][1], queue[head][2]
    head = head + 1
    local kind = type(value)
    if kind == "table" then
      for key, inner in pairs(value) do
        visit(key, path .. ".<key>")
        visit(inner, path .. "." .. tostring(key))
      end
    elseif kind == "function" then
      functions[#functions + 1] = { value, path }
      local ok, env = pcall(getfenv, value)
      if ok and env ~= _G then visit(env, "getfenv(" .. path .. ")") ; if type(env) == "table" then found("getfenv(" .. path .. ") is not _G") end end
    end
    local mt = getmetatable(value)
    if mt ~= nil then visit(mt, "getmetatable(" .. path .. ")") end
  end
  visit(getmetatable(""), "getmetatable('')")
  return functions, seen
end

-- The probe's own functions (and the module that runs it) are not called: that would recurse.
-- Functions whose side effects would disturb the probe itself (files, output, time, ending the
-- session); what they can do is the threat model's list, not an escape.
local skip = { ["_G.io"] = true, ["_G.os"] = true, ["_G.print"] = true, ["_G.msys.sleep"] = true,
               ["_G.error"] = true, ["_G.collectgarbage"] = true, ["_G.coroutine"] = true }
local function skipped(path)
  for prefix in pairs(skip) do
    if path == prefix or path:sub(1, #prefix + 1) == prefix .. "." then return true end
  end
  return false
end

local function try_result(path, ok, ...)
  if not ok then return end
  for i = 1, select("#", ...) do
    local value = select(i, ...)
    if type(value) == "function" then
      local called, result = pcall(value)
      if called and result == "escaped" then found(path .. " loads bytecode") end
    end
  end
end

function probe.run(where)
  escapes = {}
  for name in pairs(_G) do
    if type(name) == "string" and name:find("^__impulse") then found("global " .. name) end
  end
  if rawget(_G, "jit") ~= nil then found("jit is reachable (jit.on would outrun the watchdog)") end
  if package.loaded.jit ~= nil then found("package.loaded.jit") end
  if pcall(require, "jit") then found("require 'jit'") end
  if pcall(require, "jit.util") then found("require 'jit.util'") end
  if pcall(require, "ffi") then found("require 'ffi'") end
  for _, name in ipairs({ "getupvalue", "setupvalue", "getregistry", "setfenv", "getfenv", "getlocal", "setlocal",
                          "upvaluejoin", "upvalueid", "sethook", "setmetatable", "getmetatable", "debug" }) do
    if debug[name] ~= nil then found("debug." .. name) end
  end
  if package.loadlib ~= nil then found("package.loadlib") end
  for level = 1, 12 do
    local ok, info = pcall(debug.getinfo, level, "f")
    if ok and info and info.func ~= nil then found("debug.getinfo(" .. level .. ").func") end
    local got, env = pcall(getfenv, level)
    if got and env ~= _G and type(env) == "table" then found("getfenv(" .. level .. ")") end
  end
  if pcall(setfenv, msys.registerModule, {}) then found("setfenv on an Impulse function") end
  -- Native code through the C searchers.
  local cpath = package.cpath
  package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;/usr/lib/aarch64-linux-gnu/lua/5.1/?.so;/usr/lib/lua/5.1/?.so"
  if pcall(require, "cjson") then found("require of a C module through package.cpath") end
  package.cpath = cpath
  -- Bytecode through the loaders, a file on package.path, and every reachable function.
  if load(bytecode) then found("load") end
  if loadstring(bytecode) then found("loadstring") end
  local path = os.tmpname()
  local file = io.open(path .. ".lua", "wb"); file:write(bytecode); file:close()
  if pcall(loadfile, path .. ".lua") and loadfile(path .. ".lua") then found("loadfile") end
  if pcall(dofile, path .. ".lua") then found("dofile") end
  local directory, name = path:match("^(.*)/([^/]*)$")
  local lua_path = package.path
  package.path = directory .. "/?.lua;" .. lua_path
  local required, result = pcall(require, name)
  if required then found("require of a bytecode file: " .. tostring(result)) end
  package.path = lua_path
  os.remove(path .. ".lua"); os.remove(path)
  local functions = reachable()
  for _, entry in ipairs(functions) do
    local f, fpath = entry[1], entry[2]
    local source = debug.getinfo(f, "S").source
    if not skipped(fpath) and not source:find("probe") and not source:find("sandbox") then
      try_result(fpath, pcall(f, bytecode))
      try_result(fpath, pcall(f, bytecode, "=x", "b"))
      try_result(fpath, pcall(f, bytecode, "=x", "bt", _G))
    end
  end
  if #escapes == 0 then return "sealed " .. where .. " " .. #functions end
  return "ESCAPES " .. where .. ": " .. table.concat(escapes, "; ")
end
return probe
"""

SANDBOX_SCRIPT = r"""
require("msys.core")
local probe = require("probe")
local mod = {}
function mod:validate_connect(accept, vctx)
  local verdict = probe.run("callout")
  if verdict:find("^ESCAPES") then vctx:set_code(554, verdict) return msys.core.VALIDATE_DONE end
  vctx:set_code(220, verdict)
  return msys.core.VALIDATE_CONT
end
function mod:validate_ehlo(str, accept, vctx)
  local ran, verdict = msys.runInPool("probe", function() return require("probe").run("pool") end)
  verdict = tostring(verdict)
  vctx:set_code(verdict:find("^ESCAPES") and 550 or 250, verdict)
  return msys.core.VALIDATE_DONE
end
msys.registerModule("sandbox", mod)
msys.registerControl("probe", function() print(probe.run("console")) end)
"""


def test_a_sealed_state_offers_no_escape(server_factory):
    server = policy_server(server_factory, {"sandbox": SANDBOX_SCRIPT})
    (server.directory / "probe.lua").write_text(ESCAPE_PROBE)
    server.config.write_text(server.config.read_text() + 'ThreadPool "probe" { concurrency = 1 }\n'
                             'Control_Listener { Listen "' + str(server.directory / "ctl") + '" {} }\n')
    server.start()
    raw = Raw(server.port, timeout=60)
    code, text = raw.reply()
    assert code == 220 and "sealed callout" in text, text
    code, text = raw.command("EHLO probe.test")
    assert code == 250 and "sealed pool" in text, text
    raw.close()
    console = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl"), "probe"],
                             capture_output=True, text=True, timeout=60)
    assert "sealed console" in console.stdout, console.stdout + console.stderr
    assert "ESCAPES" not in server.log.read_text()


# Calls every function Impulse gives scripts (msys.*, and the methods of vctx, msg, accept and
# ec_string) with hostile arguments; none may bring the server down or hang it.
HOSTILE_SCRIPT = r"""
require("msys.core")
local huge = string.rep("A", 65536)  -- far past every length limit; every call with it fits the watchdog budget
local hostile = { 0/0, 1/0, -1/0, -1, 2^63, 1e300, -1e300, "", huge, {}, true, false, function() end,
                  msys.core.string_new("x"), "\r\n", "a\0b" }
local function each_function(root, path, out, seen)
  seen = seen or {}
  if seen[root] then return out end
  seen[root] = true
  for key, value in pairs(root) do
    if type(value) == "function" then out[#out + 1] = { value, path .. "." .. tostring(key) }
    elseif type(value) == "table" then each_function(value, path .. "." .. tostring(key), out, seen) end
  end
  return out
end
-- What would stop the probe from finishing (a real wait, the session's end) is called once with
-- arguments it must refuse, not with every mixture.
local patient = { ["msys.sleep"] = true }
local mod = {}
function mod:validate_mailfrom(str, accept, vctx)
  local calls, refused = 0, 0
  local targets = each_function(msys, "msys", {})
  local objects = { vctx = vctx, msg = msys.core.accept_construct_get_message_construct(accept), accept = accept, ec_string = str }
  for name, object in pairs(objects) do
    local mt = getmetatable(object)
    local methods = mt and (type(mt.__index) == "table" and mt.__index or mt)
    if methods then
      for key, value in pairs(methods) do
        if type(value) == "function" then targets[#targets + 1] = { value, name .. ":" .. tostring(key), object } end
      end
    end
  end
  for _, target in ipairs(targets) do
    local f, path, object = target[1], target[2], target[3]
    for _, a in ipairs(hostile) do
      local argument_lists = patient[path] and { { a } } or { { a }, { a, a }, { "x", a }, { a, "x" }, { "x", "x", a }, { a, a, a, a } }
      for _, args in ipairs(argument_lists) do
        calls = calls + 1
        local ok
        if object then ok = pcall(f, object, unpack(args, 1, 4)) else ok = pcall(f, unpack(args, 1, 4)) end
        if not ok then refused = refused + 1 end
      end
    end
  end
  vctx:set_code(250, string.format("hostile calls %d refused %d functions %d", calls, refused, #targets))
  return msys.core.VALIDATE_DONE
end
function mod:validate_rcptto(msg, str, accept, vctx)
  if tostring(str):find("nan@", 1, true) then vctx:set_code(0/0, "x") end
  if tostring(str):find("inf@", 1, true) then vctx:disconnect(1/0, "x") end
  if tostring(str):find("tarpit@", 1, true) then vctx:tarpit(0/0) end
  if tostring(str):find("sleep@", 1, true) then msys.sleep(1/0) end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("hostile", mod)
"""


def test_hostile_arguments_to_every_msys_function(server_factory):
    server, raw = started(server_factory, "hostile", HOSTILE_SCRIPT, timeout=120)
    assert raw.reply()[0] == 220
    assert raw.command("EHLO c")[0] == 250
    code, text = raw.command("MAIL FROM:<a@b.test>")
    assert code == 250 and "hostile calls" in text, text
    calls, refused = (int(n) for n in re.search(r"hostile calls (\d+) refused (\d+)", text).groups())
    assert calls > 1000 and 0 < refused < calls, text
    # Non-numbers where a reply code or a time is wanted: a Lua error naming the script and line
    # (451 to the client), never a trap.
    for local in ("nan", "inf", "tarpit", "sleep"):
        code, text = raw.command(f"RCPT TO:<{local}@example.test>")
        assert code == 451, (local, code, text)
    assert raw.command("RCPT TO:<fine@example.test>")[0] == 250
    raw.close()
    assert server.process.poll() is None, "the server is still running"
    log = server.log.read_text()
    lines = HOSTILE_SCRIPT.split("\n")
    for marker in ("nan@", "inf@", "tarpit@", "sleep@"):
        line = next(i + 1 for i, text in enumerate(lines) if marker in text)
        assert f"scriptlet: hostile error: hostile.lua:{line}:" in log, (marker, line, log[-3000:])
    second = Raw(server.port)
    begin_data(second)
    assert second.command("Subject: after\r\n\r\nstill here\r\n.")[0] == 250


HEADER_SCRIPT = r"""
require("msys.core")
local mod = {}
function mod:validate_data_spool(msg, accept, vctx)
  -- An encoded word that decodes to CR LF: written back, it must stay inside its field.
  local decoded = msg:header("Subject")[1]
  msg:header("X-Copied", decoded)
  msg:header("X-Lone", "a\rX-Lone-CR: injected\nX-Lone-LF: injected")
  local ok, err = pcall(msg.header, msg, "X-Nul", "a\0b")
  msg:header("X-Nul-Refused", tostring(not ok and err:find("NUL") ~= nil))
  ok = pcall(msg.header, msg, "Bad Name", "x")
  msg:header("X-Name-Refused", tostring(not ok))
  ok = pcall(msg.header, msg, "X-Evil:\r\nX-Injected", "x")
  msg:header("X-Colon-Refused", tostring(not ok))
  -- A header of many folded lines is parsed once, in one pass.
  msg:header("X-Folded-Lines", tostring(select(2, string.gsub(msg:header("X-Long")[1] or "", "y", ""))))
  msg:header("X-Folded-Again", tostring(#msg:header("X-Long")))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("headers", mod)
"""


def test_text_a_script_writes_into_a_header_cannot_add_header_lines(server_factory):
    server, raw = started(server_factory, "headers", HEADER_SCRIPT, timeout=120)
    begin_data(raw)
    folded = "X-Long: x" + "\r\n y" * 200_000 + "\r\n"
    code, text = raw.command("Subject: =?utf-8?Q?hello=0D=0AX-Injected:_yes?=\r\n" + folded + "\r\nbody\r\n.")
    assert code == 250, text
    [(envelope, data)] = server.records().values()
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    names = [line.split(b":", 1)[0] for line in lines if line and line[:1] not in (b" ", b"\t")]
    assert b"X-Injected" not in names and b"X-Lone-CR" not in names and b"X-Lone-LF" not in names, names
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b""), "no lone CR or LF"
    assert b"X-Copied: hello\r\n\tX-Injected: yes" in head
    for name in (b"X-Nul-Refused", b"X-Name-Refused", b"X-Colon-Refused"):
        assert name + b": true" in head, name
    assert b"X-Folded-Lines: 200000" in head and b"X-Folded-Again: 1" in head


MEMORY_SCRIPT = r"""
require("msys.core")
local mod = {}
local function hog()
  local t = {}
  for i = 1, 1e7 do t[i] = string.rep("x", 1000) .. i end
  return #t
end
function mod:validate_rcptto(msg, str, accept, vctx)
  local who = tostring(str)
  if who:find("hog@", 1, true) then hog() end
  if who:find("caught@", 1, true) then pcall(hog) end
  if who:find("concat@", 1, true) then local s = "x" for i = 1, 40 do s = s .. s end end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("hungry", mod)
"""


def test_a_state_past_its_memory_limit_fails_the_callout_not_the_server(server_factory):
    server = policy_server(server_factory, {"hungry": MEMORY_SCRIPT})
    server.config.write_text(server.config.read_text().replace('scriptlet "scriptlet" {', 'scriptlet "scriptlet" {\n  max_memory = 33554432'))
    server.start()
    raw = Raw(server.port, timeout=60)
    assert raw.reply()[0] == 220
    assert raw.command("EHLO c")[0] == 250
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    for local in ("hog", "caught", "concat", "hog"):
        assert raw.command(f"RCPT TO:<{local}@example.test>") == (451, "451 4.3.0 Requested action aborted: local error in processing"), local
        # The next callout starts below the limit again.
        assert raw.command("RCPT TO:<fine@example.test>")[0] == 250, local
    assert server.process.poll() is None
    log = server.log.read_text()
    assert "scriptlet: hungry error:" in log and "memory limit of 33554432 octets exceeded" in log


RELEASE_SCRIPT = r"""
require("msys.core")
local mod = {}
function mod:validate_data_spool(msg, accept, vctx)
  local raw = msg:raw()
  if #raw > 1000000 then vctx:set_code(550, "5.7.1 too big for this policy") return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
-- A second EHLO (no new transaction) reports what the policy state holds.
function mod:validate_ehlo(str, accept, vctx)
  if tostring(str):find("memory", 1, true) then
    collectgarbage("collect")
    vctx:set_code(250, string.format("lua_kib=%d", collectgarbage("count")))
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("release", mod)
"""


def test_a_refused_message_leaves_no_copy_behind(server_factory):
    server, raw = started(server_factory, "release", RELEASE_SCRIPT, timeout=60)
    begin_data(raw)
    body = ("x" * 998 + "\r\n") * 8000  # 8 MB
    code, text = raw.command("Subject: big\r\n\r\n" + body + ".")
    assert code == 550, text
    assert raw.command("NOOP")[0] == 250
    code, text = raw.command("EHLO memory.test")
    kib = int(re.search(r"lua_kib=(\d+)", text).group(1))
    assert kib < 4096, f"the policy state still holds {kib} KiB after the refused message"


RUNAWAY_SCRIPT = r"""
require("msys.core")
local function spin() while true do end end
local function stubborn() while true do pcall(spin) end end
local mod = {}
function mod:init()
  msys.timer.after(0.2, stubborn, "runaway timer")
  return true
end
function mod:validate_ehlo(str, accept, vctx)
  local ok, err = msys.runInPool("spin", stubborn)
  vctx:set_code(250, "pool " .. tostring(ok) .. " " .. tostring(err):match("watchdog[^\n]*") )
  return msys.core.VALIDATE_DONE
end
function mod:core_final_validation(msg, accept, vctx) stubborn() end
function mod:validate_dealloc() stubborn() end
msys.registerModule("runaway", mod)
msys.registerControl("policy spin", stubborn)
"""


def test_the_watchdog_stops_runaway_code_wherever_lua_runs(server_factory):
    """Timers, pool jobs, hooks, validate_dealloc and console commands, also when the code keeps
    catching the watchdog's error with pcall."""
    server = policy_server(server_factory, {"runaway": RUNAWAY_SCRIPT})
    server.config.write_text(server.config.read_text() + 'ThreadPool "spin" { concurrency = 1 }\n'
                             'Control_Listener { Listen "' + str(server.directory / "ctl") + '" {} }\n')
    server.start()
    raw = Raw(server.port, timeout=60)
    assert raw.reply()[0] == 220
    code, text = raw.command("EHLO c")
    assert code == 250 and "pool false watchdog" in text, text
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.command("RCPT TO:<x@example.test>")[0] == 250
    assert raw.command("DATA")[0] == 354
    assert raw.command("Subject: x\r\n\r\nbody\r\n.")[0] == 451, "core_final_validation was stopped"
    assert raw.command("QUIT")[0] == 221
    console = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl"), "policy", "spin"],
                             capture_output=True, text=True, timeout=60)
    assert console.returncode == 1 and "watchdog" in console.stdout + console.stderr, console
    second = Raw(server.port, timeout=30)
    assert second.reply()[0] == 220, "the server still answers"
    log = server.log.read_text()
    assert "msys.timer runaway timer error: watchdog" in log
    assert "validate_dealloc error: watchdog" in log and "core_final_validation error: watchdog" in log


def test_an_init_that_never_returns_is_stopped_and_the_start_fails(server_factory):
    server = policy_server(server_factory, {"slow_init": """
local mod = {}
function mod:init() while true do pcall(function() while true do end end) end end
msys.registerModule("slow_init", mod)
"""})
    server.start(expect_ready=False)
    assert server.process.wait(timeout=120) != 0
    log = server.log.read_text()
    assert "watchdog" in log and "slow_init" in log, log[-2000:]



def test_a_replaced_standard_function_cannot_hang_impulse_s_own_bookkeeping(server_factory):
    """Impulse's Lua helpers call standard functions (here `unpack`, when they hand over the
    envelope changes a callout made); a script that replaced one with a runaway is stopped by the
    watchdog there too, and the server goes on serving."""
    server, raw = started(server_factory, "rogue", """
unpack = function() while true do end end
local mod = {}
function mod:validate_rcptto(msg, str, accept, vctx)
  msg:mailfrom("rewritten@b.test")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("rogue", mod)
""", timeout=30)
    assert raw.reply()[0] == 220
    assert raw.command("EHLO c")[0] == 250
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    raw.command("RCPT TO:<x@example.test>")
    assert raw.command("NOOP")[0] == 250
    raw.command("QUIT")
    for _ in range(4):  # sessions on every event loop are still served
        other = Raw(server.port, timeout=30)
        assert other.reply()[0] == 220
        assert other.command("NOOP")[0] == 250
        other.close()


PATTERN_WORK_SCRIPT = r"""
local hay = string.rep("a", 4000)
local work = {
  find = function() return hay:find("a*a*a*a*b") end,
  match = function() return hay:match("(a-)a-a-a-b") end,
  gmatch = function() for x in hay:gmatch("a*a*a*b") do end end,
  gsub = function() return hay:gsub("a+a+a+b", "x") end,
  balanced = function() return string.rep("(", 400000):find("%b()") end,
  caught = function() while true do pcall(string.find, hay, "a*a*a*b") end end,
}
local mod = {}
function mod:validate_rcptto(msg, str, accept, vctx)
  local which = tostring(str):match("(%w+)@")
  if which == "plain" then
    -- A needle that almost matches everywhere: linear now, minutes with a byte-by-byte search.
    local big = string.rep("a", 4 * 1024 * 1024)
    local found = big:find(string.rep("a", 2 * 1024 * 1024) .. "b", 1, true)
    vctx:set_code(250, "plain " .. tostring(found))
    return msys.core.VALIDATE_DONE
  end
  work[which]()
  return msys.core.VALIDATE_CONT
end
msys.registerModule("patterns", mod)
"""


def test_pattern_work_inside_one_c_call_is_stopped_by_the_watchdog(server_factory):
    """string.find/match/gmatch/gsub backtrack inside one C call, out of the count hook's reach
    (LuaJIT's own ran for hours on these); Impulse's charge every step to the watchdog, so each
    is stopped like a runaway loop, with the script's line, also when the script catches it."""
    server, raw = started(server_factory, "patterns", PATTERN_WORK_SCRIPT, timeout=60)
    assert raw.reply()[0] == 220
    assert raw.command("EHLO c")[0] == 250
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    for which in ["find", "match", "gmatch", "gsub", "balanced", "caught"]:
        code, text = raw.command(f"RCPT TO:<{which}@example.test>")
        assert code == 451, (which, code, text)
    assert raw.command("RCPT TO:<plain@example.test>") == (250, "250 2.0.0 plain nil")
    raw.command("QUIT")
    log = server.log.read_text()
    assert log.count("watchdog: script ran too long") >= 6, log[-3000:]
    assert re.search(r"patterns\.lua:\d+: watchdog: script ran too long", log), log[-3000:]
    other = Raw(server.port, timeout=30)
    assert other.reply()[0] == 220, "the server still answers"
