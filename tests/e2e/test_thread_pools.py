"""msys.runInPool and msys.threadpool: functions run in Lua states owned by thread pools."""
import re
import threading
import time

from conftest import Raw
from test_policy import policy_server

POOLS = """
local core = msys.core
local mod = {}
local settings = { factor = 6, words = { "a", "b" } }
local function scale(x) return x * settings.factor end

function mod:validate_mailfrom(str, accept, vctx)
  local sender = vctx:get(core.VCTX_MESS, "mailfrom_localpart")
  if sender == "compute" then
    local ok, product, joined, async = msys.runInPool("CPU", function()
      return scale(7), table.concat(settings.words, "+"), msys.asyncOk()
    end)
    vctx:set_code(250, "2.1.0 " .. tostring(ok) .. " " .. product .. " " .. joined .. " " .. tostring(async))
  elseif sender == "fails" then
    local ok, message = msys.runInPool("CPU", function() error("pool says no") end)
    vctx:set_code(250, "2.1.0 " .. tostring(ok) .. " " .. tostring(message):match("pool says no"))
  elseif sender == "nopool" then
    local ok, message = msys.runInPool("Nowhere", function() return 1 end)
    vctx:set_code(250, "2.1.0 " .. tostring(ok) .. " " .. message)
  elseif sender == "slow" then
    local ok = msys.runInPool("IO", function() msys.sleep(1) return true end)
    vctx:set_code(250, "2.1.0 slept " .. tostring(ok))
  elseif sender == "forget" then
    local path = vctx:get(core.VCTX_CONN, "marker")
    local ok = msys.runInPool("Mine", function()
      local f = io.open(path, "w") f:write("written in the pool") f:close()
    end, true)
    vctx:set_code(250, "2.1.0 queued " .. tostring(ok))
  elseif sender == "complete" then
    local counter = "/site/completions"
    msys.runInPool("Mine", function() return 41 end, function(ok, value)
      msys.counter.add(msys.counter.open(counter), value + 1)
    end, core.ECTP_COMPLETE_CALLBACK_SCHED)
    vctx:set_code(250, "2.1.0 going on")
  elseif sender == "count" then
    vctx:set_code(250, "2.1.0 " .. msys.counter.read(msys.counter.open("/site/completions")))
  elseif sender == "stat" then
    local stat = msys.threadpool.stat("mine")
    vctx:set_code(250, "2.1.0 " .. msys.threadpool.count() .. " " .. tostring(msys.threadpool.find("IO")) .. " "
                  .. stat.name .. " " .. stat.concurrency .. " " .. tostring(msys.threadpool.find("nope")))
  elseif sender == "vctx" then
    msys.runInPool("CPU", function() return vctx end)
  end
  return core.VALIDATE_CONT
end
msys.registerModule("pools", mod)
"""


def pool_server(server_factory, tmp_path):
    server = policy_server(server_factory, {"pools": POOLS},
                           body=f'  relay_domains = ( "example.test" )\n  context = [ marker = "{tmp_path}/marker" ]')
    server.config.write_text(server.config.read_text() + 'ThreadPool "Mine" { Concurrency = 2 }\n')
    return server.start()


def mail(raw, sender):
    code, text = raw.command(f"MAIL FROM:<{sender}@source.test>")
    raw.command("RSET")
    return code, text


def test_run_in_pool_modes_and_threadpool_info(server_factory, tmp_path):
    server = pool_server(server_factory, tmp_path)
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert mail(raw, "compute") == (250, "250 2.1.0 true 42 a+b false"), "upvalues copied; no suspending in a pool"
    assert mail(raw, "fails") == (250, "250 2.1.0 false pool says no")
    assert mail(raw, "nopool") == (250, "250 2.1.0 false no thread pool named 'Nowhere'")
    assert mail(raw, "forget") == (250, "250 2.1.0 queued true")
    deadline = time.time() + 10
    while not (tmp_path / "marker").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "marker").read_text() == "written in the pool"
    assert mail(raw, "complete") == (250, "250 2.1.0 going on")
    deadline = time.time() + 10
    while mail(raw, "count") != (250, "250 2.1.0 42") and time.time() < deadline:
        time.sleep(0.05)
    assert mail(raw, "count") == (250, "250 2.1.0 42"), "the completion ran with the job's results"
    # Momentum's eight standard pools plus Mine; IO is the seventh (id 6); names without case.
    assert mail(raw, "stat") == (250, "250 2.1.0 9 6 Mine 2 nil")
    assert mail(raw, "vctx")[0] == 451
    assert "cannot go to a thread pool" in server.log.read_text()


def test_pool_jobs_that_block_do_not_block_the_event_loop(server_factory, tmp_path):
    server = pool_server(server_factory, tmp_path)
    replies = []

    def slow_session():
        raw = Raw(server.port, timeout=30)
        raw.reply()
        raw.command("EHLO c")
        replies.append(raw.command("MAIL FROM:<slow@source.test>"))

    threads = [threading.Thread(target=slow_session) for _ in range(20)]
    started = time.time()
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    probe = Raw(server.port)
    assert probe.reply()[0] == 220
    probe_started = time.time()
    assert probe.command("EHLO quick")[0] == 250
    assert time.time() - probe_started < 0.5, "a 21st session's EHLO is not held up by 20 sleeping pool jobs"
    for thread in threads:
        thread.join(30)
    assert replies == [(250, "250 2.1.0 slept true")] * 20
    assert time.time() - started < 10, "the 20 sleeps ran side by side in the IO pool"


def test_init_and_scheduler_timers_reach_the_pools(server_factory, tmp_path):
    server = policy_server(server_factory, {"initpool": f"""
local mod = {{}}
function mod:init()
  local count = msys.threadpool.count()
  msys.runInPool("CPU", function() return 20 end, function(ok, value)
    local f = io.open("{tmp_path}/from-init", "w") f:write(tostring(count) .. " " .. tostring(value + 1)) f:close()
  end, msys.core.ECTP_COMPLETE_CALLBACK_SCHED)
  return true
end
function mod:validate_ehlo() return msys.core.VALIDATE_CONT end
msys.registerModule("initpool", mod)
"""}).start()
    deadline = time.time() + 10
    while not (tmp_path / "from-init").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "from-init").read_text() == "8 21"
