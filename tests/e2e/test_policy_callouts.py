"""Every callout and hook, every return code and the error paths, through the real server."""
import re
import time

from conftest import Raw
from test_policy import policy_server

EVERYTHING = """
local core = msys.core
local mod = {}
local function note(self, name, vctx)
  print("phase " .. name)
  if vctx then
    local seen = vctx:get(core.VCTX_CONN, "phases")
    vctx:set(core.VCTX_CONN, "phases", (seen and seen .. "," or "") .. name)
  end
  return core.VALIDATE_CONT
end
function mod:init() print("phase init") return true end
function mod:deinit() print("phase deinit") end
function mod:core_validate_accept(accept, vctx) note(self, "accept", vctx) end
function mod:validate_connect(accept, vctx) return note(self, "connect", vctx) end
function mod:validate_ehlo(str, accept, vctx) return note(self, "ehlo:" .. tostring(str), vctx) end
function mod:validate_mailfrom(str, accept, vctx) return note(self, "mailfrom:" .. tostring(str), vctx) end
function mod:validate_rcptto(msg, str, accept, vctx) return note(self, "rcptto:" .. msg:rcptto(), vctx) end
function mod:validate_rcptto_list(list, vctx) return note(self, "rcptto_list", vctx) end
function mod:validate_rcptto_list_final(node, vctx) return note(self, "rcptto_list_final", vctx) end
function mod:validate_data(msg, accept, vctx) return note(self, "data", vctx) end
function mod:validate_data_spool(msg, accept, vctx) return note(self, "data_spool", vctx) end
function mod:core_pre_msg_each_rcpt(msg, accept) note(self, "pre_each:" .. msg:rcptto()) end
function mod:validate_data_spool_each_rcpt(msg, accept, vctx) return note(self, "each:" .. msg:rcptto(), vctx) end
function mod:core_post_msg_each_rcpt(msg, accept, vctx) note(self, "post_each:" .. msg:rcptto(), vctx) end
function mod:core_final_validation(msg, accept, vctx) note(self, "final", vctx) end
function mod:core_post_final_validation(msg, accept, vctx)
  note(self, "post_final", vctx)
  msg:header("X-Phases", vctx:get(core.VCTX_CONN, "phases"))
  msg:header("X-Exists", vctx:exists(core.VCTX_CONN, "phases") .. vctx:exists(core.VCTX_MESS, "nothing"))
end
function mod:validate_set_binding(msg) return note(self, "set_binding") end
function mod:validate_dealloc() print("phase dealloc") end
msys.registerModule("everything", mod)
"""


def test_every_callout_and_hook_runs_in_momentums_order(server_factory):
    server = policy_server(server_factory, {"everything": EVERYTHING}).start()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    raw.command("EHLO client.test")
    raw.command("MAIL FROM:<a@source.test>")
    raw.command("RCPT TO:<one@example.test>")
    raw.command("RCPT TO:<two@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: s\r\n\r\nbody\r\n.")[0] == 250
    raw.command("QUIT")
    raw.close()
    time.sleep(0.3)
    server.stop()
    (envelope, data), = server.records().values()
    phases = re.search(rb"X-Phases: ([^\r]*)", data).group(1).decode().split(",")
    assert phases == ["accept", "connect", "ehlo:client.test", "mailfrom:MAIL FROM:<a@source.test>",
                      "rcptto:one@example.test", "rcptto_list", "rcptto:two@example.test", "rcptto_list",
                      "rcptto_list_final", "data", "data_spool",
                      "each:one@example.test", "post_each:one@example.test",
                      "each:two@example.test", "post_each:two@example.test", "final", "post_final"]
    assert re.search(rb"X-Exists: 10\r\n", data)
    printed = re.findall(r"phase (\S+)", server.log.read_text())
    # init runs once on the scheduler state; pre_each (no vctx) and set_binding only print.
    assert printed[0] == "init"
    assert "pre_each:one@example.test" in printed and "pre_each:two@example.test" in printed
    assert printed.index("pre_each:one@example.test") < printed.index("each:one@example.test")
    assert printed.index("post_final") < printed.index("set_binding") < printed.index("dealloc")
    assert printed[-1] == "deinit", "deinit runs when the configuration is retired (shutdown)"


def test_return_codes_done_again_and_invalid_values(server_factory):
    server = policy_server(server_factory, {"first": """
local core = msys.core
local a = {}
function a:validate_mailfrom(str, accept, vctx)
  local from = tostring(str)
  if from:find("done") then return core.VALIDATE_DONE end
  if from:find("again") then return core.VALIDATE_AGAIN end
  if from:find("bad") then return 7 end
  if from:find("two") then return core.VALIDATE_CONT, "extra" end
  if from:find("none") then return end
  return core.VALIDATE_CONT
end
msys.registerModule("first", a)
""", "second": """
local b = {}
function b:validate_mailfrom(str, accept, vctx)
  vctx:set_code(550, "5.7.1 second module ran")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("second", b)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert raw.command("MAIL FROM:<done@source.test>")[0] == 250, "DONE stops the chain before the second module"
    raw.command("RSET")
    assert raw.command("MAIL FROM:<again@source.test>") == (550, "550 5.7.1 second module ran"), "AGAIN goes on like CONT"
    assert raw.command("MAIL FROM:<plain@source.test>") == (550, "550 5.7.1 second module ran"), "CONT goes on"
    for sender in ["bad", "two", "none"]:
        code, text = raw.command(f"MAIL FROM:<{sender}@source.test>")
        assert (code, text[:9]) == (451, "451 4.3.0"), sender
    log = server.log.read_text()
    assert "first:validate_mailfrom must return one of msys.VALIDATE_CONT msys.VALIDATE_DONE or msys.VALIDATE_AGAIN" in log
    assert "first:validate_mailfrom expected a single return value, got 2" in log
    assert "first:validate_mailfrom expected a single return value, got 0" in log
    assert "scriptlet: first error:" in log


def test_runaway_script_is_stopped_and_the_server_goes_on(server_factory):
    server = policy_server(server_factory, {"loop": """
local mod = {}
function mod:validate_rcptto(msg, str, accept, vctx)
  if msg:rcptto():find("^loop") then while true do end end
  if msg:rcptto():find("^stubborn") then while true do pcall(function() while true do end end) end end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("looper", mod)
"""}).start()
    raw = Raw(server.port, timeout=60)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@source.test>")
    assert raw.command("RCPT TO:<loop@example.test>")[0] == 451
    assert raw.command("RCPT TO:<stubborn@example.test>")[0] == 451
    other = Raw(server.port)
    assert other.reply()[0] == 220
    assert other.command("EHLO other")[0] == 250
    assert raw.command("RCPT TO:<fine@example.test>")[0] == 250, "the session and its Lua state still work"
    log = server.log.read_text()
    assert "watchdog: script ran too long" in log and "scriptlet: looper error:" in log


def test_sandbox_escape_attempts_fail(server_factory, tmp_path):
    marker = tmp_path / "escaped"
    server = policy_server(server_factory, {"escape": f"""
local mod = {{}}
function mod:validate_ehlo(str, accept, vctx)
  local results = {{}}
  local function try(name, f)
    local ok, value = pcall(f)
    results[#results + 1] = name .. "=" .. ((ok and value) and "open" or "closed")
  end
  try("ffi", function() return require("ffi") end)
  try("execute", function() return os.execute("touch {marker}") end)
  try("popen", function() return io.popen("touch {marker}") end)
  try("loadlib", function() return package.loadlib("libluajit-5.1.so.2", "luaopen_ffi") end)
  try("bytecode", function() return loadstring(string.dump(function() return 1 end)) end)
  try("newproxy", function() return newproxy(true) end)
  try("exit", function() return os.exit(1) end)
  try("sethook", function() return debug.sethook(function() end, "", 1) or true end)
  try("upvalue", function() return debug.getupvalue(load, 1) end)
  try("registry", function() return debug.getregistry() end)
  vctx:set_code(250, table.concat(results, " "))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("escape", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    code, text = raw.command("EHLO c")
    assert code == 250
    assert text.split("\n")[0].endswith("ffi=closed execute=closed popen=closed loadlib=closed bytecode=closed "
                                          "newproxy=closed exit=closed sethook=closed upvalue=closed registry=closed")
    assert not marker.exists()
    assert server.process.poll() is None
