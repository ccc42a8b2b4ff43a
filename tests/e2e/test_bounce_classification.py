"""Bounce classification end to end: the recording sink answers with real-looking replies, and
the bouncelog (Momentum's layout, field 12), the console's bounce_classifier_override commands
and msys.bounce in a delivery hook give each failure its classification code — from the
operator's rules file first, then the built-in rules."""
import subprocess

from conftest import BIN
from test_delivery import deliver_config, mainlog, send, sinks, wait_until  # noqa: F401 (sinks is a fixture)

RULES = """# domain,bounce_code,rule
two.itest,52,no such user
,99,*bad words*
,51,550 5.7.1 * listed at *
"""

HOOK = """
require("msys.core")
require("msys.bounce")
local mod = {}
function mod:core_log_permanent_failure_v1(msg, dr, now, note)
  print("classified " .. msg:routing_domain() .. " " .. tostring(msys.bounce.classify(msg)) .. " "
        .. tostring(msys.bounce.classify_smtp_response("550 5.1.1 no such user", "two.itest")) .. " "
        .. tostring(msys.bounce.classify_smtp_response("550 5.1.1 no such user")))
end
msys.registerModule("classify", mod)
"""


def start(server_factory, sink, rules=RULES):
    server = server_factory(**deliver_config(
        "127.0.0.1@1",
        f'domain "one.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        f'domain "two.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        'generate_bounces = false\nretry_interval = 3600\n'
        'bounce_classifier_override {\n  user_smtp_classification_override = "rules.ovr"\n  refresh = 0\n'
        '  custom_classes = [ 99 = "profanity" ]\n}\n'
        'Control_Listener {\n  Listen "ctl.sock" { }\n}\n'
        'alerting {}\nscriptlet "scriptlet" { script "classify" { source = "classify" } }'))
    (server.directory / "rules.ovr").write_text(rules)
    (server.directory / "classify.lua").write_text(HOOK)
    return server.start()


def bounce_records(server, kind):
    path = server.directory / "bouncelog.ec"
    lines = path.read_text().splitlines() if path.exists() else []
    return {f"{line.split('@')[5]}@{line.split('@')[6]}": line.split("@") for line in lines
            if line.split("@")[4] == kind}


def console(server, *command):
    return subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                          capture_output=True, text=True, timeout=30)


def test_bouncelog_codes_from_rules_then_built_in(server_factory, sinks):
    sink = sinks()
    sink.rcpt_replies.update({
        "profane": "550 5.7.1 message refused: bad words found",
        "listed": "550 5.7.1 Client host [127.0.0.1] listed at bl.example",
        "ratelimited": "421 4.7.28 Our system has detected an unusual rate of mail, try again later",
    })
    server = start(server_factory, sink)
    for recipient in ["permfail@one.itest", "permfail@two.itest", "profane@one.itest", "listed@one.itest",
                      "tempfail@one.itest", "ratelimited@one.itest"]:
        send(server.port, [recipient])
    permanent = wait_until(lambda: len(bounce_records(server, "B")) == 4 and bounce_records(server, "B"),
                           what="four B records")
    # Built in: 550 5.1.1 is an invalid recipient ...
    assert permanent["permfail@one.itest"][12] == "10"
    # ... but the rule for two.itest makes the same reply 52 there.
    assert permanent["permfail@two.itest"][12] == "52"
    # A wildcard rule with a custom class, and a rule that beats the built-in 5.7.1 reading.
    assert permanent["profane@one.itest"][12] == "99"
    assert permanent["listed@one.itest"][12] == "51"
    transient = wait_until(lambda: len(bounce_records(server, "T")) == 2 and bounce_records(server, "T"),
                           what="two T records")
    # A plain temporary failure is 70; a temporary block says more (50, mail block).
    assert transient["tempfail@one.itest"][12] == "70"
    assert transient["ratelimited@one.itest"][12] == "50"
    assert len(mainlog(server, "P")) == 4
    # The delivery hook sees the same codes through msys.bounce.
    log = wait_until(lambda: server.log.read_text().count("classified ") == 4 and server.log.read_text(),
                     what="four hook lines")
    assert "classified two.itest 52 52 10" in log
    assert "classified one.itest 99 52 10" in log


def test_console_test_and_reload(server_factory, sinks):
    sink = sinks()
    server = start(server_factory, sink)
    result = console(server, "bounce_classifier_override", "test", "domain=two.itest", "550 5.1.1 no such user")
    assert result.returncode == 0 and result.stdout == "52 Spam Content (rule two.itest,52,no such user)\n"
    result = console(server, "bounce_classifier_override", "test", "552 5.2.2 mailbox full")
    assert result.stdout == "22 Mailbox Full (built-in rules)\n"
    # A new rule is picked up by reload.
    (server.directory / "rules.ovr").write_text(RULES + ",25,mailbox full\n")
    assert console(server, "bounce_classifier_override", "reload").stdout.startswith("Loaded 4 rules from ")
    assert console(server, "bounce_classifier_override", "test", "552 5.2.2 mailbox full").stdout.startswith("25 ")
    # A broken file is refused with its line, and the rules in force stay.
    (server.directory / "rules.ovr").write_text(",999,whatever\nno commas here\n")
    result = console(server, "bounce_classifier_override", "reload")
    assert result.returncode != 0
    assert "rules.ovr:1:1: '999' is not a classification code" in result.stdout
    assert "rules.ovr:2:1: expected domain,bounce_code,rule" in result.stdout
    assert console(server, "bounce_classifier_override", "test", "552 5.2.2 mailbox full").stdout.startswith("25 ")


def test_a_bad_rules_file_stops_the_start_with_its_line(server_factory, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        "127.0.0.1@1", f'domain "one.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                       'bounce_classifier_override { user_smtp_classification_override = "rules.ovr" }'))
    (server.directory / "rules.ovr").write_text("# fine\n,10,user unknown\n,abc,oops\n")
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert f"{server.directory}/rules.ovr:3:1: error: 'abc' is not a classification code" in result.stderr
