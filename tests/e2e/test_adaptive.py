"""Response-driven back-off end to end: the recording sink answers with scripted replies, and
the built-in rules or rules a script registers (msys.adaptive.registerRules, Momentum's shape)
suspend, slow down or blackhole the queue — each action in the adaptive log, the console and
the metrics, and lifted by the operator."""
import re
import time
import urllib.request

import pytest

from test_delivery import deliver_config, mainlog, send, sinks, wait_until  # noqa: F401 (sinks is a fixture)
from test_traffic_shaping import console

RULES = r"""
require("msys.adaptive")
msys.adaptive.registerRules({
  ["solo.itest"] = {
    responses = {
      { code = "^421 .*go away", trigger = "1", action = {"suspend", "1 hours"}, message = "told to go away" },
      { code = "^550 .*spamtrap", trigger = "1",
        action = { {"transcode", "554 5.7.1 blocked for a spam trap hit"}, {"blackhole", "1 hours"} },
        message = "spam trap" },
    },
  },
  ["alias.itest"] = "solo.itest",
}, "augment")
"""


def start(server_factory, sink, script=RULES, extra=""):
    server = server_factory(**deliver_config(
        "127.0.0.1@1",
        f'domain "solo.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        f'domain "alias.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        'retry_interval = 1\nadaptive { adaptivelog = "adaptive.ec" }\n'
        'Control_Listener {\n  Listen "ctl.sock" { }\n}\nHTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n'
        'alerting {}\nscriptlet "scriptlet" { script "rules" { source = "rules" } }\n' + extra,
        relay=("solo.itest", "alias.itest", "sender.test")))
    (server.directory / "rules.lua").write_text(script)
    return server.start()


def adaptive_log(server):
    path = server.directory / "adaptive.ec"
    return [line.split("@", 6) for line in path.read_text().splitlines()] if path.exists() else []


def metric(server, name):
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return int(float(re.search(rf"^{name} (\S+)$", text, re.M).group(1)))


def test_a_script_rule_suspends_the_queue_until_the_operator_lifts_it(server_factory, sinks):
    sink = sinks()
    sink.mail_reply = "421 4.7.0 go away for now"
    server = start(server_factory, sink)
    send(server.port, ["first@solo.itest"])
    wait_until(lambda: mainlog(server, "T"), what="the first deferral")
    records = wait_until(lambda: adaptive_log(server), what="an adaptive log record")
    assert records[0][1:6] == ["1", "G", "default", "solo.itest", "NOTICE"]
    assert records[0][6] == "suspend 3600s: told to go away (421 4.7.0 go away for now)"
    assert "default/default solo.itest suspended until " in console(server, "adaptive", "suspensions")
    assert metric(server, "impulse_adaptive_queues_held") == 1
    # Suspended: retries (every second) and new mail make no connection and no attempt.
    connections = sink.connections
    send(server.port, ["second@solo.itest"])
    time.sleep(2.5)
    assert sink.connections == connections
    assert len(mainlog(server, "T")) == 1
    # The operator lifts it; the next hop answers again and both go.
    sink.mail_reply = None
    assert console(server, "adaptive", "reset", "solo.itest") == "solo.itest: back-off lifted on 1 queue.\n"
    assert sorted(r for m in sink.wait_for(2) for r in m.recipients) == ["first@solo.itest", "second@solo.itest"]
    assert adaptive_log(server)[-1][6] == "reset by the operator"
    assert console(server, "adaptive", "suspensions") == "No suspensions.\n"


def test_transcode_and_blackhole(server_factory, sinks):
    sink = sinks()
    sink.rcpt_replies["trap"] = "550 5.7.1 spamtrap address"
    server = start(server_factory, sink)
    send(server.port, ["trap@solo.itest"])
    permanent = wait_until(lambda: mainlog(server, "P"), what="a P record")
    assert permanent[0][13] == "554 5.7.1 blocked for a spam trap hit"
    # Blackholed: the next message fails at once, without a connection, and is bounced.
    send(server.port, ["next@solo.itest"])
    failed = wait_until(lambda: len(mainlog(server, "P")) == 2 and mainlog(server, "P"), what="a second P")
    assert [line[5] for line in failed] == ["solo.itest", "solo.itest"]
    assert failed[1][13].startswith("554 5.4.0 [adaptive] solo.itest is blackholed: spam trap (550 5.7.1 spamtrap")
    assert "next@solo.itest" not in sink.attempts, "a blackholed queue makes no attempt"
    texts = [record[6] for record in adaptive_log(server)]
    assert texts[0].startswith('transcode "550 5.7.1 spamtrap address" -> "554 5.7.1 blocked for a spam trap hit"')
    assert texts[1].startswith("blackhole 3600s: spam trap")


def test_aliases_follow_their_domains_rules(server_factory, sinks):
    sink = sinks()
    sink.mail_reply = "421 4.7.0 go away"
    server = start(server_factory, sink)
    send(server.port, ["someone@alias.itest"])
    records = wait_until(lambda: adaptive_log(server), what="an adaptive record")
    assert records[0][4] == "alias.itest" and records[0][6].startswith("suspend 3600s: told to go away")


def test_built_in_rule_slows_a_rate_limited_queue(server_factory, sinks):
    sink = sinks()
    sink.rcpt_replies["limited"] = "451 4.7.28 Our system has detected an unusual rate of unsolicited mail"
    server = start(server_factory, sink, script='require("msys.adaptive")\n',
                   extra='domain "solo.itest" { outbound_throttle_messages = "20"  retry_interval = 60 }\n')
    send(server.port, ["limited@solo.itest"])
    records = wait_until(lambda: adaptive_log(server), what="an adaptive record")
    assert records[0][6].startswith("outbound_throttle_messages 20 -> 10: unusual rate of mail from this address")
    assert "outbound_throttle_messages 10" in console(server, "adaptive", "list")
    listing = console(server, "throttle", "list")
    assert "adaptive default/default solo.itest messages 10/s" in listing, listing
    assert "domain solo.itest messages 20/s" in listing
    assert metric(server, "impulse_adaptive_queues_adjusted") == 1
    assert "(built-in)" in console(server, "adaptive", "rules")
    console(server, "adaptive", "reset", "solo.itest")
    listing = console(server, "throttle", "list")
    assert "domain solo.itest messages 20/s" in listing and "adaptive " not in listing, listing


def test_adaptive_enabled_false_leaves_the_queue_alone(server_factory, sinks):
    sink = sinks()
    sink.mail_reply = "421 4.7.0 go away"
    server = start(server_factory, sink, extra='domain "solo.itest" { adaptive_enabled = false }\n')
    send(server.port, ["first@solo.itest"])
    wait_until(lambda: len(mainlog(server, "T")) >= 2, what="retries go on")
    assert adaptive_log(server) == []


@pytest.mark.parametrize("rules,problem", [
    ('{ ["x.itest"] = { responses = { { code = "(unclosed", action = {"suspend", "1 hours"} } } } }',
     'x.itest: code "(unclosed" does not compile'),
    ('{ ["x.itest"] = { responses = { { code = "^421", action = {"warp", "9"} } } } }',
     'action "warp" is not supported'),
    ('{ ["x.itest"] = { responses = { { code = "^421", trigger = "often", action = {"throttle", "down"} } } } }',
     'trigger "often" is not "N" or "N/seconds"'),
])
def test_a_bad_rule_is_a_script_error_with_its_line(server_factory, sinks, rules, problem):
    sink = sinks()
    server = server_factory(**deliver_config(
        "127.0.0.1@1", f'domain "solo.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                       'alerting {}\nscriptlet "scriptlet" { script "rules" { source = "rules" } }\n'))
    (server.directory / "rules.lua").write_text(f'require("msys.adaptive")\n\nmsys.adaptive.registerRules({rules})\n')
    with pytest.raises(RuntimeError) as failure:
        server.start()
    assert "rules.lua:3:" in str(failure.value) and problem in str(failure.value), str(failure.value)
