"""Config reload (SIGHUP): a new policy for new sessions; any error keeps the running one."""
import signal
import time

from conftest import Raw
from test_policy import policy_server


def version(text):
    return f"""
local mod = {{}}
function mod:init() print("init {text}") return {'false' if text == 'refuses' else 'true'} end
function mod:deinit() print("deinit {text}") end
function mod:validate_mailfrom(str, accept, vctx)
  vctx:set_code(550, "5.7.1 policy {text}")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("versioned", mod)
"""


def mail_reply(raw):
    code, text = raw.command("MAIL FROM:<a@source.test>")
    return text


def reload_and_wait(server, marker):
    before = server.log.read_text().count(marker)
    server.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline:
        if server.log.read_text().count(marker) > before:
            return
        time.sleep(0.05)
    raise AssertionError(f"no '{marker}' after SIGHUP: {server.log.read_text()[-2000:]}")


def test_reload_applies_a_new_policy_and_keeps_the_old_one_on_errors(server_factory):
    server = policy_server(server_factory, {"versioned": version("one")}).start()
    script = server.directory / "versioned.lua"
    early = Raw(server.port)
    early.reply()
    early.command("EHLO c")
    assert mail_reply(early) == "550 5.7.1 policy one"

    script.write_text(version("two"))
    reload_and_wait(server, "now serve new sessions")
    fresh = Raw(server.port)
    fresh.reply()
    fresh.command("EHLO c")
    assert mail_reply(fresh) == "550 5.7.1 policy two"
    assert mail_reply(early) == "550 5.7.1 policy one", "a session keeps the policy it started with"
    log = server.log.read_text()
    assert log.index("init two") < log.index("deinit one"), "the retired configuration's deinit runs after the new init"

    for broken, why in [("local m = {\nfunction m:validate_ehlo(\n", "versioned.lua:2:"),
                        (version("refuses"), "init failed"),
                        ('require("msys.nonexistent")\n', "not supported by Impulse")]:
        script.write_text(broken)
        reload_and_wait(server, "config reload failed")
        assert why in server.log.read_text().split("config reload: reading")[-1]
        probe = Raw(server.port)
        probe.reply()
        probe.command("EHLO c")
        assert mail_reply(probe) == "550 5.7.1 policy two", "the running configuration stays"

    server.config.write_text(server.config.read_text() + "\nthis is not valid {\n")
    reload_and_wait(server, "config reload failed")
    probe = Raw(server.port)
    probe.reply()
    probe.command("EHLO c")
    assert mail_reply(probe) == "550 5.7.1 policy two"
