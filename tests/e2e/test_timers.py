"""msys.timer: after / at / every, stop / start / name, cancelled when collected."""
import time

from conftest import Raw
from test_policy import policy_server

TIMERS = """
local core = msys.core
local counter = msys.counter
local mod = {}
function mod:init()
  local ticks = counter.open("/site/ticks")
  ticker = msys.timer.every(0.1, function() ticks:inc() end, "ticker")
  local stops = counter.open("/site/stopper")
  stopper = msys.timer.every(0.05, function(timer)
    if stops:inc() >= 3 then timer:stop() end
  end)
  once = msys.timer.after(0.2, function(timer) counter.open("/site/once"):add(10) ; counter.open("/site/name"):add(#timer:name()) end, "abcd")
  at = msys.timer.at(os.time() + 1, function() counter.open("/site/at"):inc() end)
  pauser = msys.timer.after(1.0, function() ticker:stop() end)
  -- No reference kept: collected, so it never fires.
  msys.timer.after(0.3, function() counter.open("/site/collected"):inc() end)
  collectgarbage() collectgarbage()
  return true
end
function mod:validate_mailfrom(str, accept, vctx)
  local what = vctx:get(core.VCTX_MESS, "mailfrom_localpart")
  if what == "arm" then
    session_timer = msys.timer.after(0.1, function() counter.open("/site/from_callout"):inc() end)
  end
  local values = {}
  for _, name in ipairs({ "ticks", "stopper", "once", "name", "at", "collected", "from_callout" }) do
    values[#values + 1] = name .. "=" .. counter.open("/site/" .. name):read()
  end
  vctx:set_code(250, "2.1.0 " .. table.concat(values, " "))
  return core.VALIDATE_CONT
end
msys.registerModule("timers", mod)
"""


def counters(raw, sender="read"):
    raw.command("RSET")
    code, text = raw.command(f"MAIL FROM:<{sender}@source.test>")
    assert code == 250, text
    return dict(pair.split("=") for pair in text.split(" ", 2)[2].split(" "))


def test_timers_fire_stop_and_are_cancelled_when_collected(server_factory):
    server = policy_server(server_factory, {"timers": TIMERS}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    counters(raw, "arm")
    time.sleep(1.6)
    first = counters(raw)
    assert 5 <= int(first["ticks"]) <= 11, first
    assert first["stopper"] == "3", "a repeating timer stops itself"
    assert first["once"] == "10" and first["name"] == "4", "after fires once; :name() is the given name"
    assert first["at"] == "1"
    assert first["collected"] == "0", "a timer without a reference is cancelled when collected"
    assert first["from_callout"] == "1", "a timer made in a callout fires on its event loop"
    time.sleep(0.5)
    second = counters(raw)
    assert second["ticks"] == first["ticks"], "stop() (from another timer, at 1 s) stopped the ticker"
    assert second["once"] == "10"


WAITING_TIMER = """
local counter = msys.counter
local mod = {}
function mod:init()
  -- In the scheduler's state (init's), and below in an event loop's (a callout's).
  keep = msys.timer.after(0.1, function()
    msys.sleep(0.2)
    local content = msys.readfile("%s")
    counter.open("/site/scheduler"):add(#(content or ""))
  end)
  return true
end
function mod:validate_mailfrom(str, accept, vctx)
  if vctx:get(msys.core.VCTX_MESS, "mailfrom_localpart") == "arm" then
    loop_timer = msys.timer.every(0.1, function(timer)
      msys.sleep(0.05)
      if counter.open("/site/loop"):inc() >= 3 then timer:stop() end
    end)
  end
  vctx:set_code(250, "2.1.0 scheduler=" .. counter.open("/site/scheduler"):read() .. " loop=" .. counter.open("/site/loop"):read())
  return msys.core.VALIDATE_CONT
end
msys.registerModule("waiting", mod)
"""


def test_a_timer_callback_may_wait(server_factory):
    """Timer callbacks run in a coroutine of their own and may wait (msys.sleep, msys.readfile),
    in the scheduler's state and in an event loop's; a repeating one is armed again after."""
    server = policy_server(server_factory, {"waiting": ""})
    (server.directory / "seven.txt").write_text("seven!!")
    (server.directory / "waiting.lua").write_text(WAITING_TIMER % (server.directory / "seven.txt"))
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert raw.command("MAIL FROM:<arm@source.test>")[0] == 250
    time.sleep(1.5)
    raw.command("RSET")
    code, text = raw.command("MAIL FROM:<read@source.test>")
    assert (code, text.split(" ", 2)[2]) == (250, "scheduler=7 loop=3"), text
    assert "cannot suspend here" not in server.log.read_text()
