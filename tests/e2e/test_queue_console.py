"""Acting on the delivery queue from the real console, with real delivery to a recording sink:
inspect (mailq, showqueue, domain, message details), retry, fail, delete, flush, suspend and
resume; the summary and the metrics count the outcomes."""
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN
from sink import Sink
from test_delivery import deliver_config, mainlog, send, wait_until, dsn_parts


@pytest.fixture
def setup(server_factory, tmp_path):
    sink = Sink()
    config = deliver_config(
        "127.0.0.1@1",  # no DNS is needed: every domain has a gateway
        f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  retry_interval = 3600 }}\n'
        f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
        'Control_Listener {\n  Listen "ctl.sock" { }\n}\nHTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n')
    server = server_factory(**config).start()
    yield server, sink
    sink.close()


def console(server, *command):
    result = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                            capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout


def delayed_id(server, address):
    """Sends to `address` (a tempfail) and waits until it is delayed; returns its id."""
    before = len(mainlog(server, "T"))
    send(server.port, [address])
    transient = wait_until(lambda: len(mainlog(server, "T")) > before and mainlog(server, "T"), what="a T record")
    return transient[-1][1]


def test_inspect_retry_and_fail_a_delayed_message(setup):
    server, sink = setup
    message_id = delayed_id(server, "tempfail1@sink.test")
    code, mailq = console(server, "mailq")
    assert code == 0 and ["default/default", "sink.test", "0", "1"] in [line.split() for line in mailq.splitlines()]
    code, show = console(server, "showqueue", "sink.test")
    assert re.search(rf"^\[delayed/default\] {message_id} Created: \d+ Next: \d+$", show, re.M), show
    assert "  From: <alice@sender.test> To: <tempfail1@sink.test>" in show
    code, domain = console(server, "domain", "sink.test")
    assert "Queue: Active: 0 Delayed: 1" in domain and "Last Error: RCPT TO: 451 4.3.0 try again later" in domain
    assert re.search(r"^Oldest: \d+$", domain, re.M) and re.search(r"^Next Attempt: \d+$", domain, re.M)
    code, details = console(server, "message", "details", message_id)
    assert "Retries: 1" in details and "Recipient: <tempfail1@sink.test> (1 attempt(s))" in details

    assert console(server, "message", "retry", message_id) == (0, "Message requeued for delivery\n")
    wait_until(lambda: len(mainlog(server, "T")) == 2, what="a second attempt")
    assert sink.attempts["tempfail1@sink.test"] == 2

    assert console(server, "message", "fail", message_id) == (0, f"Message {message_id} failed.\n")
    bounce = sink.wait_for(1)[0]
    assert bounce.mail_from == "" and bounce.recipients == ["alice@sender.test"]
    _, blocks = dsn_parts(bounce.data)
    assert "554 5.0.0 manually failed" in blocks[1]["Diagnostic-Code"]
    assert mainlog(server, "P")[-1][13] == "554 5.0.0 manually failed"
    assert console(server, "message", "retry", message_id)[0] == 1
    code, summary = console(server, "summary")
    assert "Failed Messages: 1" in summary and "Transient Failures: 2" in summary and "Delayed Queue Size: 0" in summary


def test_delete_fail_domain_and_flush(setup):
    server, sink = setup
    deleted = delayed_id(server, "tempfail2@sink.test")
    assert console(server, "message", "delete", deleted) == (0, f"Message {deleted} failed (no bounce).\n")
    delayed_id(server, "tempfail3@sink.test")
    delayed_id(server, "tempfail4@sink.test")
    code, dry = console(server, "fail", "domain", "--dry-run", "sink.test")
    assert "[dry-run] sink.test: 2 messages would be failed." in dry
    assert console(server, "flush", "domain", "sink.test") == (0, "sink.test flushed.  2 messages requeued.\n")
    wait_until(lambda: len(mainlog(server, "T")) == 5, what="the flushed attempts")
    assert console(server, "fail", "domain", "quiet", "sink.test", "gone for good") == (0, "sink.test purged. 2 messages failed.\n")
    assert [line[13] for line in mainlog(server, "P")][-2:] == ["554 5.0.0 gone for good"] * 2
    time.sleep(0.5)
    assert sink.messages == [], "quiet and delete send no bounce"
    assert "Queue: Active: 0 Delayed: 0" in console(server, "domain", "sink.test")[1]


def test_suspend_and_resume_a_domain_and_metrics(setup):
    server, sink = setup
    assert console(server, "suspend", "domain", "sink.test") == (0, "sink.test suspended.\n")
    send(server.port, ["held@sink.test"])
    time.sleep(0.7)
    assert sink.messages == []
    assert "(suspended)" in console(server, "domain", "sink.test")[1]
    assert ["default/default", "sink.test", "1", "0"] in [line.split() for line in console(server, "mailq")[1].splitlines()]
    assert console(server, "resume", "domain", "sink.test") == (0, "sink.test resumed.\n")
    assert sink.wait_for(1)[0].recipients == ["held@sink.test"]
    delayed_id(server, "tempfail5@sink.test")
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert re.search(r'^impulse_messages_delivered_total\{binding="default",domain="sink.test"\} 1(\.0)?$', text, re.M) or \
        re.search(r'^impulse_messages_delivered_total\{domain="sink.test",binding="default"\} 1(\.0)?$', text, re.M), text
    assert re.search(r'^impulse_messages_deferred_total\{[^}]*\} 1(\.0)?$', text, re.M)
    assert re.search(r"^impulse_queue_delayed 1(\.0)?$", text, re.M)
    assert "Successfully Delivered Messages: 1" in console(server, "summary")[1]


def test_reopen_logs_after_rotation(setup):
    server, sink = setup
    send(server.port, ["first@sink.test"])
    sink.wait_for(1)
    mainlog_path = server.directory / "mainlog.ec"
    wait_until(lambda: mainlog(server, "D"), what="a D record")
    mainlog_path.rename(server.directory / "mainlog.ec.1")
    assert console(server, "reopen", "logs") == (0, "Logs reopened.\n")
    send(server.port, ["second@sink.test"])
    sink.wait_for(2)
    wait_until(lambda: mainlog_path.exists() and mainlog(server, "D"), what="a D record in the new file")
    assert "second@sink.test".split("@")[0] in mainlog_path.read_text()
    assert "second" not in (server.directory / "mainlog.ec.1").read_text()


def test_an_unwritable_log_stops_start_up_with_the_path(server_factory):
    server = server_factory(global_options='ec_logger { mainlog = "/proc/impulse-cannot/mainlog.ec" }')
    server.start(expect_ready=False)
    assert server.process.wait(timeout=30) != 0
    # The message names the option's place in the configuration (file:line:column).
    assert re.search(r"\.conf:\d+:\d+: cannot open log file /proc/impulse-cannot/mainlog\.ec", server.log.read_text())


def test_priority_messages_are_delivered_first(server_factory):
    sink = Sink()
    try:
        config = deliver_config(
            "127.0.0.1@1", f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  max_outbound_connections = 1 }}\n'
            'Control_Listener {\n  Listen "ctl.sock" { }\n}\n'
            'scriptlet "scriptlet" { script "prio" { source = "prio" } }')
        server = server_factory(**config)
        (server.directory / "prio.lua").write_text(
            'local m = {}\nfunction m:validate_set_binding(msg)\n'
            '  if msg:rcptto():find("^urgent") then msg.priority = 1 end\n'
            '  return msys.core.VALIDATE_CONT\nend\nmsys.registerModule("prio", m)\n')
        server.start()
        assert console(server, "suspend", "domain", "sink.test")[0] == 0
        for address in ["first@sink.test", "second@sink.test", "urgent@sink.test"]:
            send(server.port, [address])
        assert console(server, "resume", "domain", "sink.test")[0] == 0
        messages = sink.wait_for(3)
        assert [m.recipients[0] for m in messages] == ["urgent@sink.test", "first@sink.test", "second@sink.test"]
    finally:
        sink.close()
