"""Outbound delivery end to end: a real client sends to the real impulse, which delivers to real
sinks on loopback (our recording sink and Postfix's smtp-sink), routing through a real DNS
server (dnsmasq) started by the test."""
import email
import os
import re
import smtplib
import socket
import subprocess
import time
from email import policy as email_policy

import pytest

from conftest import BIN, Raw, start_dnsmasq
from sink import Sink


@pytest.fixture
def mx_dns(tmp_path):
    """dnsmasq answering for *.itest only (unbound itself answers NXDOMAIN for .test, RFC 6761): MX records to loopback hosts. Every other name is
    NXDOMAIN locally, so nothing is ever asked of a resolver off this machine."""
    process, port = start_dnsmasq(tmp_path, [
        # one.itest and two.itest: one MX each, on the loopback sink host.
        "--mx-host=one.itest,mx.one.itest,10", "--host-record=mx.one.itest,127.0.0.1",
        "--mx-host=two.itest,mx.two.itest,10", "--host-record=mx.two.itest,127.0.0.1",
        # fallback.itest: the best MX (127.0.0.2) refuses connections; the second is the sink.
        "--mx-host=fallback.itest,down.fallback.itest,10", "--host-record=down.fallback.itest,127.0.0.2",
        "--mx-host=fallback.itest,up.fallback.itest,20", "--host-record=up.fallback.itest,127.0.0.1",
        # many.itest: six MX hosts that refuse connections (127.0.0.2-7), the sink last.
        *[arg for i in range(6) for arg in (f"--mx-host=many.itest,down{i}.many.itest,{10 + i}",
                                              f"--host-record=down{i}.many.itest,127.0.0.{2 + i}")],
        "--mx-host=many.itest,up.many.itest,90", "--host-record=up.many.itest,127.0.0.1",
        # nomx.itest has no MX but an address: delivered to the address (RFC 5321 5.1).
        "--host-record=nomx.itest,127.0.0.1",
        "--local=/itest/"], probe_name="one.itest")
    yield f"127.0.0.1@{port}"
    process.terminate()
    process.wait()


@pytest.fixture
def sinks():
    made = []

    def make(**kwargs):
        sink = Sink(**kwargs)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


def deliver_config(dns, domains: str, extra_global: str = "", relay=("one.itest", "two.itest", "fallback.itest", "nomx.itest", "many.itest",
                                                                     "sink.test", "sender.test")):
    relay_list = " ".join(f'"{d}"' for d in relay)
    return dict(body=f"  relay_domains = ( {relay_list} )", deliver=True,
                global_options=f'dns_nameservers = ( "{dns}" )\nretry_interval = 1\nmax_retry_interval = 2\n'
                               f'ec_logger {{ mainlog = "mainlog.ec" }}\nbounce_logger {{ bouncelog = "bouncelog.ec" }}\n'
                               f'{extra_global}\n{domains}')


def send(port, recipients, sender="alice@sender.test", body=b"Subject: hello\r\n\r\nHello.\r\n.leading dot\r\n"):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, recipients, body)


def mainlog(server, kind=None):
    path = server.directory / "mainlog.ec"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split("@", 13) for line in lines if kind is None or line.split("@")[4] == kind]


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_multi_recipient_message_split_per_domain_through_mx(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "one.itest" {{ remote_smtp_port = {sink.port} }}\n'
                                                     f'domain "two.itest" {{ remote_smtp_port = {sink.port} }}')).start()
    send(server.port, ["a@one.itest", "b@one.itest", "c@two.itest"])
    messages = sink.wait_for(2)
    by_domain = {m.recipients[0].split("@")[1]: m for m in messages}
    assert sorted(by_domain["one.itest"].recipients) == ["a@one.itest", "b@one.itest"]
    assert by_domain["two.itest"].recipients == ["c@two.itest"]
    for message in messages:
        assert message.mail_from == "alice@sender.test"
        assert message.helo == "impulse.test"
        # Dot-stuffing undone by the sink: the body arrives as sent, CRLF throughout.
        assert b"\r\n.leading dot\r\n" in message.data and message.data.startswith(b"Received:")
    delivered = wait_until(lambda: len(mainlog(server, "D")) == 3 and mainlog(server, "D"), what="three D records")
    assert sorted(line[5] for line in delivered) == ["one.itest", "one.itest", "two.itest"]
    assert all(line[11] == "127.0.0.1" and line[7:9] == ["default", "default"] for line in delivered)
    assert len(mainlog(server, "R")) == 3
    # Every recipient settled: the queue is empty (the segment goes once the writer closes it).
    wait_until(lambda: server.spooled_ids() == set(), what="an empty queue")
    time.sleep(0.5)
    assert len(sink.messages) == 2


def test_single_recipient_to_postfix_smtp_sink_through_gateway(server_factory, mx_dns, tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    dump = tmp_path / "dump"
    sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "root", "-D", str(dump), f"127.0.0.1:{port}", "16"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{port}" }}')).start()
        send(server.port, ["bob@sink.test"])
        text = wait_until(lambda: dump.exists() and b"Hello." in dump.read_bytes() and dump.read_bytes(), what="smtp-sink's dump")
        assert b"MAIL FROM:<alice@sender.test>" in text.upper().replace(b"MAIL FROM:", b"MAIL FROM:") or b"alice@sender.test" in text
        assert b"bob@sink.test" in text
        wait_until(lambda: mainlog(server, "D"), what="a D record")
    finally:
        sink.terminate()
        sink.wait()


def test_mx_fallback_when_the_best_mx_refuses_connections(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "fallback.itest" {{ remote_smtp_port = {sink.port} }}')).start()
    send(server.port, ["x@fallback.itest"])
    assert sink.wait_for(1)[0].recipients == ["x@fallback.itest"]
    assert mainlog(server, "T") == []


def test_implicit_mx_when_the_domain_has_only_an_address(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "nomx.itest" {{ remote_smtp_port = {sink.port} }}')).start()
    send(server.port, ["x@nomx.itest"])
    assert sink.wait_for(1)[0].recipients == ["x@nomx.itest"]


def test_gateway_overrides_mx(server_factory, mx_dns, sinks):
    mx_sink, gateway_sink = sinks(), sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "one.itest" {{ remote_smtp_port = {mx_sink.port}  gateway = "127.0.0.1:{gateway_sink.port}" }}')).start()
    send(server.port, ["x@one.itest"])
    assert gateway_sink.wait_for(1)[0].recipients == ["x@one.itest"]
    assert mx_sink.messages == []


POLICY_BINDING = """
local m = {}
function m:validate_set_binding(msg)
  if msg:rcptto():find("^vip") then msg:binding("vip") end
  return msys.core.VALIDATE_CONT
end
function m:core_log_delivery_v1(msg, dr, now, note)
  print("delivered " .. msg:rcptto() .. " via " .. dr.domain .. " binding " .. dr.binding .. ": " .. note
        .. " (get_code: " .. msg:get_code() .. ")")
end
function m:core_log_permanent_failure_v1(msg, dr, now, note)
  error("a broken permanent-failure hook")
end
msys.registerModule("routing", m)
"""


def test_binding_chosen_by_policy_sets_source_address_and_hooks_fire(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'binding "vip" { bind_address = "127.0.0.3"  ehlo_hostname = "vip.impulse.test" }\n'
                'scriptlet "scriptlet" { script "routing" { source = "routing" } }'))
    (server.directory / "routing.lua").write_text(POLICY_BINDING)
    server.start()
    send(server.port, ["vip1@sink.test"])
    send(server.port, ["plain@sink.test", "permfail@sink.test"])
    messages = sink.wait_for(2)
    vip = next(m for m in messages if m.recipients == ["vip1@sink.test"])
    plain = next(m for m in messages if m.recipients == ["plain@sink.test"])
    assert vip.peer[0] == "127.0.0.3" and vip.helo == "vip.impulse.test"
    assert plain.peer[0] == "127.0.0.1" and plain.helo == "impulse.test"
    # Both deliveries logged (in either order) before looking for the vip one.
    delivered = wait_until(lambda: len(mainlog(server, "D")) >= 2 and mainlog(server, "D"), what="two D records")
    assert any(line[8] == "vip" for line in delivered)
    log = wait_until(lambda: "delivered plain@sink.test" in server.log.read_text() and server.log.read_text(), what="hook output")
    assert "delivered vip1@sink.test via sink.test binding vip: 250 2.0.0 queued (get_code: 250 2.0.0 queued)" in log
    # The failing hook is reported with its module; delivery went on (permfail was bounced/logged).
    wait_until(lambda: "a broken permanent-failure hook" in server.log.read_text(), what="the hook's error in the log")
    assert "core_log_permanent_failure_v1 failed" in server.log.read_text()
    assert wait_until(lambda: mainlog(server, "P"), what="a P record")[0][13].startswith("RCPT TO: 550 5.1.1")


def dsn_parts(message_bytes):
    message = email.message_from_bytes(message_bytes, policy=email_policy.compat32)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    parts = message.get_payload()
    status = parts[1]
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    return message, blocks


def test_tempfail_then_success_is_retried(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    send(server.port, ["retry2@sink.test"])
    message = sink.wait_for(1, timeout=30)[0]
    assert message.recipients == ["retry2@sink.test"] and sink.attempts["retry2@sink.test"] == 3
    transient = mainlog(server, "T")
    assert len(transient) == 2 and transient[0][13].startswith("RCPT TO: 451 4.3.0")
    assert [line[10] for line in transient] == ["0", "1"]
    assert wait_until(lambda: mainlog(server, "D"), what="a D record")[0][9] == "2"


def test_expiry_sends_one_dsn_to_the_sender(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  message_expiration = 3 }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    send(server.port, ["tempfail@sink.test"])
    bounce = sink.wait_for(1, timeout=30)[0]
    assert bounce.mail_from == "" and bounce.recipients == ["alice@sender.test"]
    message, blocks = dsn_parts(bounce.data)
    assert "MAILER-DAEMON@impulse.test" in message["From"]
    recipient_block = blocks[1]
    assert recipient_block["Final-Recipient"] == "rfc822; tempfail@sink.test"
    assert recipient_block["Action"] == "failed" and recipient_block["Status"] == "5.4.7"
    assert "exceeded max time" in recipient_block["Diagnostic-Code"]
    permanent = mainlog(server, "P")
    assert len(permanent) == 1 and permanent[0][13] == "554 5.4.7 [internal] exceeded max time without delivery"
    bouncelog = (server.directory / "bouncelog.ec").read_text().splitlines()
    assert any(line.split("@")[4] == "B" and line.split("@")[5] == "tempfail" for line in bouncelog)
    time.sleep(1.5)
    assert len(sink.messages) == 1, "exactly one DSN"


def test_permanent_failure_sends_a_dsn_with_the_headers(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                                                     f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    send(server.port, ["permfail@sink.test", "ok@sink.test"])
    messages = sink.wait_for(2)
    bounce = next(m for m in messages if m.mail_from == "")
    message, blocks = dsn_parts(bounce.data)
    assert blocks[1]["Final-Recipient"] == "rfc822; permfail@sink.test" and blocks[1]["Status"] == "5.1.1"
    assert "550 5.1.1 no such user here" in blocks[1]["Diagnostic-Code"]
    original = message.get_payload()[2]
    assert original.get_content_type() == "text/rfc822-headers"
    assert b"Subject: hello" in original.as_bytes()
    delivered = next(m for m in messages if m.mail_from)
    assert delivered.recipients == ["ok@sink.test"]


def test_null_sender_gets_no_bounce(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    send(server.port, ["permfail@sink.test"], sender="")
    wait_until(lambda: mainlog(server, "P"), what="a P record")
    time.sleep(1)
    assert sink.messages == [] and len(mainlog(server, "R")) == 1


def test_restart_with_a_queue_delivers_each_recipient_once(server_factory, mx_dns, sinks):
    sink = sinks()
    config = deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  max_outbound_connections = 2 }}')
    held = dict(config, global_options=config["global_options"] + "\nsuspend_delivery = true\n")
    server = server_factory(**held).start()
    for index in range(20):
        send(server.port, [f"r{index}@sink.test", f"s{index}@sink.test"])
    assert server.stop() == 0
    assert len(server.spooled_ids()) == 20 and sink.messages == []
    server.config.write_text(server.config.read_text().replace("suspend_delivery = true", ""))
    server.start()
    sink.wait_for(20)
    wait_until(lambda: len(mainlog(server, "D")) == 40, what="40 D records")
    assert server.stop() == 0
    server.start()
    time.sleep(1.5)
    assert server.stop() == 0
    assert sink.delivered_to() == sorted([f"r{i}@sink.test" for i in range(20)] + [f"s{i}@sink.test" for i in range(20)])
    assert server.spooled_ids() == set()
    # At most two connections at a time, each reused for many transactions.
    assert sink.transactions == 20 and sink.connections <= 4


def test_next_attempt_times_survive_a_restart(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  retry_interval = 3600 }}')).start()
    send(server.port, ["tempfail@sink.test"])
    wait_until(lambda: mainlog(server, "T"), what="a T record")
    assert server.stop() == 0
    journal = "".join(path.read_text() for path in (server.directory / "spool" / "queue").glob("*.jnl"))
    assert journal.startswith("T ") and " 0 1 " in journal
    server.start()
    time.sleep(1.5)
    assert sink.attempts["tempfail@sink.test"] == 1, "not tried again before its next attempt time"
    assert len(server.spooled_ids()) == 1


POLICY_REBIND = """
local m = {}
function m:validate_set_binding(msg)
  -- Waits (msys.readfile) like a session's callout would, also for a recovered message.
  local name = msys.readfile("%s")
  msg:binding(name and name:match("%%w+") or "default")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("rebind", m)
"""


def test_recovered_messages_go_through_validate_set_binding_again(server_factory, mx_dns, sinks):
    """At start-up, before delivery, a spooled message's binding is chosen again; the callout
    may wait (the effect executor reads the file)."""
    sink = sinks()
    config = deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                                    'binding "vip" { bind_address = "127.0.0.3" }')
    held = dict(config, global_options=config["global_options"] + "\nsuspend_delivery = true\n")
    server = server_factory(**held).start()
    send(server.port, ["someone@sink.test"])
    assert server.stop() == 0
    (server.directory / "binding.txt").write_text("vip\n")
    (server.directory / "rebind.lua").write_text(POLICY_REBIND % (server.directory / "binding.txt"))
    server.config.write_text(server.config.read_text().replace("suspend_delivery = true", "")
                             + 'scriptlet "scriptlet" { script "rebind" { source = "rebind" } }\n')
    server.start()
    message = sink.wait_for(1)[0]
    assert message.peer[0] == "127.0.0.3"
    assert wait_until(lambda: mainlog(server, "D"), what="a D record")[0][8] == "vip"


def test_slow_replies_time_out_and_disconnects_are_temporary(server_factory, mx_dns, sinks):
    sink = sinks(slow_seconds=3)
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  rcptto_timeout = 1  retry_interval = 3600 }}')).start()
    send(server.port, ["slow@sink.test"])
    send(server.port, ["disconnect@sink.test"])
    transient = wait_until(lambda: len(mainlog(server, "T")) == 2 and mainlog(server, "T"), what="two T records")
    texts = sorted(line[13] for line in transient)
    assert any("connection closed by the next hop" in text for text in texts), texts
    assert any("timeout after 1 s" in text for text in texts), texts
    assert all(line[9] == "4" for line in transient), "both failed during RCPT (stage 4)"
    assert sink.messages == [] and mainlog(server, "P") == []


def test_starttls_when_offered_and_required_tls_refuses_plain_text(server_factory, mx_dns, sinks, certificate):
    tls_sink, plain_sink = sinks(starttls=certificate), sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "one.itest" {{ gateway = "127.0.0.1:{tls_sink.port}" }}\n'
                f'domain "two.itest" {{ gateway = "127.0.0.1:{plain_sink.port}"  tls = "required" }}')).start()
    send(server.port, ["x@one.itest"])
    send(server.port, ["y@two.itest"])
    assert tls_sink.wait_for(1)[0].tls is True
    transient = wait_until(lambda: mainlog(server, "T"), what="a T record for the plain-text sink")
    assert "STARTTLS" in transient[0][13] and transient[0][5] == "two.itest"
    assert plain_sink.messages == []


def test_a_large_message_goes_out_a_piece_at_a_time_unchanged(server_factory, mx_dns, sinks):
    """8 MB, dots at line starts everywhere (also where a 256 KiB piece begins): the sink gets
    exactly what was sent, undotted, with no bare CR or LF on the wire."""
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    lines = [(b"." if i % 3 == 0 else b"") + (b"%06d " % i) + b"x" * (90 + i % 7) for i in range(80_000)]
    body = b"Subject: large\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.sendmail("alice@sender.test", ["big@sink.test"], body)
    [message] = sink.wait_for(1, timeout=60)
    assert message.data.endswith(body), (len(message.data), len(body))


def test_one_attempt_tries_at_most_five_addresses(server_factory, mx_dns, sinks):
    """However many MX hosts DNS returns, an attempt tries five addresses (Postfix's
    smtp_mx_address_limit): the sink, behind six refusing MX hosts, is never reached."""
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "many.itest" {{ remote_smtp_port = {sink.port} }}')).start()
    send(server.port, ["x@many.itest"])
    transient = wait_until(lambda: mainlog(server, "T"), what="a T record")
    assert transient[0][5] == "many.itest"
    time.sleep(3)  # retry_interval is 1 s: later attempts stop at the same five
    assert sink.messages == []
    # The same with fewer refusing hosts in front reaches the sink (fallback.itest: one).
    other = server_factory(**deliver_config(mx_dns, f'domain "fallback.itest" {{ remote_smtp_port = {sink.port} }}')).start()
    send(other.port, ["y@fallback.itest"])
    assert sink.wait_for(1)[0].recipients == ["y@fallback.itest"]


def test_delivery_look_ups_do_not_wait_behind_scripts_blocked_on_the_policy_threads(server_factory, sinks, tmp_path):
    """Twelve sessions whose policy waits in msys.dnsLookup on a name server that never answers;
    a message accepted meanwhile still has its MX looked up and is delivered (a slow question
    holds no thread and nothing else waits behind it), and the twelve get their answer — a
    failed look-up, and so their MAIL reply — once the look-up's time is up."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: queries vanish
    silent.bind(("127.0.0.1", 0))
    dns, port = start_dnsmasq(tmp_path, [
        "--mx-host=one.itest,mx.one.itest,10", "--host-record=mx.one.itest,127.0.0.1", "--local=/itest/",
        f"--server=/slow.itest/127.0.0.1#{silent.getsockname()[1]}"], probe_name="one.itest")
    try:
        sink = sinks()
        config = deliver_config(f"127.0.0.1@{port}", f'domain "one.itest" {{ remote_smtp_port = {sink.port} }}')
        config["extra"] = 'scriptlet "scriptlet" {\n  script "stall" { source = "stall" }\n}\n'
        server = server_factory(**config)
        (server.directory / "stall.lua").write_text("""
local mod = {}
function mod:validate_mailfrom(msg, accept, vctx)
  if vctx:get(msys.core.VCTX_MESS, "mailfrom_domain") == "stall.test" then
    msys.dnsLookup("never.slow.itest", "A")
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("stall", mod)
""")
        server.start()
        stalled = []
        for _ in range(12):
            raw = Raw(server.port)
            raw.reply()
            raw.command("EHLO stalled.test")
            raw.send("MAIL FROM:<stall@stall.test>\r\n")
            stalled.append(raw)
        asked = time.monotonic()
        time.sleep(0.5)  # every stalled session now waits for an answer that never comes
        send(server.port, ["x@one.itest"])
        [message] = sink.wait_for(1, timeout=15)
        assert message.recipients == ["x@one.itest"]
        if time.monotonic() - asked < 4:  # within the look-ups' 5 s: still waiting, no reply to MAIL yet
            for raw in stalled:
                raw.sock.settimeout(0.05)
                with pytest.raises(TimeoutError):
                    raw.sock.recv(1)
        for raw in stalled:  # the look-up ends at its time limit; the script goes on
            raw.sock.settimeout(15)
            assert raw.reply()[0] == 250
    finally:
        dns.terminate()
        dns.wait()
        silent.close()


def test_plain_text_behind_a_next_hop_s_starttls_reply_is_discarded(server_factory, mx_dns, sinks, certificate):
    """A next hop (or a man in the middle) that sends plain text right behind its 220 to STARTTLS:
    none of it is read as a reply of the encrypted session (the client-side CVE-2011-0411)."""
    sink = sinks(starttls=certificate, starttls_injection="554 5.0.0 injected before the handshake")
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    send(server.port, ["x@sink.test"])
    [message] = sink.wait_for(1)
    assert message.tls is True
    delivered = wait_until(lambda: mainlog(server, "D"), what="a D record")
    assert delivered and "injected" not in (server.directory / "mainlog.ec").read_text()


def test_suspended_domain_holds_mail_and_console_shows_it(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  suspend_delivery = true }}',
        extra_global='Control_Listener {\n  Listen "control.sock" { }\n}')).start()
    send(server.port, ["held@sink.test"])
    time.sleep(0.5)
    assert sink.messages == []
    output = subprocess.run([BIN, "console", "--socket", str(server.directory / "control.sock"), "mailq"],
                            capture_output=True, text=True, timeout=10).stdout
    assert "sink.test" in output


def test_dsn_parameters_are_passed_on_to_a_next_hop_that_offers_dsn(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo("client.test")
        client.sendmail("alice@sender.test", ["x@sink.test"], b"Subject: dsn\r\n\r\nbody\r\n",
                        mail_options=["RET=HDRS", "ENVID=env+2D1"],
                        rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@sink.test"])
    message = sink.wait_for(1)[0]
    assert "RET=HDRS" in message.mail_line and "ENVID=env+2D1" in message.mail_line
    assert "NOTIFY=SUCCESS,FAILURE" in message.rcpt_lines[0] and "ORCPT=rfc822;x@sink.test" in message.rcpt_lines[0]


def test_smtputf8_message_fails_permanently_at_a_next_hop_without_smtputf8(server_factory, mx_dns, sinks):
    sink = sinks(smtputf8=False)
    server = server_factory(**deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}')).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo("client.test")
        client.sendmail("", ["jürgen@sink.test"], "Subject: grüße\r\n\r\nbody\r\n".encode(), mail_options=["SMTPUTF8"])
    permanent = wait_until(lambda: mainlog(server, "P"), what="a P record")
    assert "SMTPUTF8" in permanent[0][13] and "RFC 6531" in permanent[0][13]
    assert sink.messages == [] and mainlog(server, "T") == []


def test_rejections_go_to_the_rejectlog(server_factory):
    server = server_factory('  relay_domains = ( "sink.test" )', global_options='ec_logger { rejectlog = "rejectlog.ec" }\n'
                            'scriptlet "scriptlet" { script "p" { source = "p" } }')
    (server.directory / "p.lua").write_text(
        'local m = {}\nfunction m:validate_mailfrom(str, accept, vctx)\n'
        '  if tostring(str):find("spam") then\n    vctx:set_code(550, "5.7.1 sender refused")\n    return msys.core.VALIDATE_DONE\n  end\n'
        '  return msys.core.VALIDATE_CONT\nend\n'
        'function m:core_log_rejection_v1(now, ac, vctx, phase, note)\n'
        '  print("rejection hook: phase " .. phase .. " from " .. tostring(ac.remote_addr) .. ": " .. note)\nend\n'
        'msys.registerModule("p", m)\n')
    server.start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.mail("a@source.test")[0] == 250
        assert client.rcpt("x@elsewhere.example")[0] == 550
        client.rset()
        assert client.mail("spam@source.test")[0] == 550
    lines = wait_until(lambda: len((server.directory / "rejectlog.ec").read_text().splitlines()) >= 2
                       and (server.directory / "rejectlog.ec").read_text().splitlines(), what="two rejectlog lines")
    relay, policy = lines[0], lines[1]
    assert relay.split(": ", 1)[0].isdigit()
    assert 'R="127.0.0.1:' in relay and f'L="127.0.0.1:{server.port}"' in relay and 'P="awaiting rcptto"' in relay
    assert " E=550 M=core CTXCONN=[] CTXMESS=[] " in relay
    assert 'P="awaiting mailfrom"' in policy and " E=550 M=scriptlet " in policy and policy.endswith("5.7.1 sender refused")
    log = wait_until(lambda: "rejection hook: phase 2" in server.log.read_text() and server.log.read_text(), what="the rejection hook")
    assert re.search(r"rejection hook: phase 3 from 127\.0\.0\.1:\d+: 550 .*Relay access denied", log), log
    assert re.search(r"rejection hook: phase 2 from 127\.0\.0\.1:\d+: 550 5\.7\.1 sender refused", log), log


def test_a_crash_during_delivery_loses_nothing(server_factory, mx_dns, sinks):
    import signal as signals
    sink = sinks()
    config = deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  max_outbound_connections = 1 }}')
    held = dict(config, global_options=config["global_options"] + "\nsuspend_delivery = true\n")
    server = server_factory(**held).start()
    expected = [f"c{index}@sink.test" for index in range(60)]
    for address in expected:
        send(server.port, [address])
    assert server.stop() == 0
    server.config.write_text(server.config.read_text().replace("suspend_delivery = true", ""))
    server.start()
    sink.wait_for(10)
    server.stop(sig=signals.SIGKILL)
    server.start()
    wait_until(lambda: set(sink.delivered_to()) == set(expected), timeout=30, what="every recipient after the crash")
    # At least once: a recipient delivered just before the kill may come again, never more.
    time.sleep(1)
    counts = {address: sink.delivered_to().count(address) for address in expected}
    assert max(counts.values()) <= 2 and sum(counts.values()) <= len(expected) + 2
    wait_until(lambda: server.spooled_ids() == set(), what="an empty queue")


WAITING_HOOK = """
local m = {}
function m:core_log_delivery_v1(msg, dr, now, note)
  msys.sleep(0.2)
  local content, err = msys.readfile("%s")
  print("hook waited for " .. msg:rcptto() .. ": " .. tostring(content or err))
end
msys.registerModule("waiting", m)
"""


def test_a_delivery_hook_may_wait(server_factory, mx_dns, sinks):
    """A core_log_*_v1 hook runs in a coroutine of its own: msys.sleep and msys.readfile wait
    through the same effect executor as the SMTP sessions (they were refused outside callouts)."""
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'scriptlet "scriptlet" { script "waiting" { source = "waiting" } }'))
    (server.directory / "answer.txt").write_text("forty-two")
    (server.directory / "waiting.lua").write_text(WAITING_HOOK % (server.directory / "answer.txt"))
    server.start()
    send(server.port, ["first@sink.test"])
    send(server.port, ["second@sink.test"])
    sink.wait_for(2)
    log = wait_until(lambda: server.log.read_text().count("hook waited for") >= 2 and server.log.read_text(),
                     what="both hooks' output")
    assert "hook waited for first@sink.test: forty-two" in log
    assert "hook waited for second@sink.test: forty-two" in log
    assert "cannot suspend here" not in log


POLICY_DELAY = """
msys.registerControl("delay_domain", function(cc)
  local record = msys.core.dns_get_domain(cc.argv[1])
  print(record.name .. " " .. msys.core.mail_queue_delay_domain(record, "held by policy"))
end)
local m = {}
msys.registerModule("delay", m)
"""


def test_a_script_delays_a_domain(server_factory, mx_dns, sinks):
    from test_console import console
    sink = sinks()
    config = deliver_config(mx_dns, f'domain "one.itest" {{ gateway = "127.0.0.1:{sink.port}" retry_interval = 30 }}')
    config["extra"] = ('alerting {}\nscriptlet "scriptlet" {\n  script "delay" { source = "delay" }\n}\n'
                       'Control_Listener {\n  Listen "ctl.sock" { }\n}\n')
    server = server_factory(**config)
    (server.directory / "delay.lua").write_text(POLICY_DELAY)
    server.start()
    send(server.port, ["first@one.itest"])
    sink.wait_for(1)
    # The queue exists (its connection idles): delaying it holds the next message.
    assert console(server, "delay_domain", "one.itest").stdout == "one.itest 0\n"
    send(server.port, ["second@one.itest"])
    time.sleep(2)
    assert len(sink.messages) == 1
    report = console(server, "domain", "one.itest").stdout
    assert "held by policy" in report, report
    # The operator can still release it.
    console(server, "flush", "domain", "one.itest")
    assert [m.recipients for m in sink.wait_for(2)] == [["first@one.itest"], ["second@one.itest"]]


# SparkPost's public sample kitchen-sink/log_reason_form_perm_fail.lua (its Lua part, unchanged).
LOG_REASON_FORM_PERM_FAIL = """
require("msys.core");
local mod = {};
local context_variable = "last_transfail";

function mod:core_log_permanent_failure_v1(msg, domain, now, note, note_len)
  note = msg:get_code();

  if string.find(note, "^554 5%.4%.7 %[internal%] exceeded max") then
    local exists, new_note = msg:context_exists_and_get(msys.core.ECMESS_CTX_MESS,
                                                        context_variable);
    if exists == 1 and new_note then
      msg:set_code(554, "5.4.7 [internal] message timeout (last transfail: " ..
                   new_note .. ")");
    end
  end
end

function mod:core_log_transient_failure_v1(msg, domain, now, note, note_len)
  msg:context_set(msys.core.ECMESS_CTX_MESS, context_variable, msg:get_code());
end

msys.registerModule("lua_logger", mod);
"""


def test_a_permanent_failure_hook_rewrites_the_logged_reason_with_what_an_earlier_hook_kept(
        server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  message_expiration = 3 }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'keep_message_dicts_in_memory = true\n'
                'scriptlet "scriptlet" { script "logger" { source = "logger" } }'))
    (server.directory / "logger.lua").write_text(LOG_REASON_FORM_PERM_FAIL)
    server.start()
    send(server.port, ["tempfail@sink.test"])
    permanent = wait_until(lambda: mainlog(server, "P"), timeout=30, what="a P record")
    transient = mainlog(server, "T")
    assert transient and transient[0][13].endswith("451 4.3.0 try again later")
    assert permanent[0][13] == f"554 5.4.7 [internal] message timeout (last transfail: {transient[-1][13]})"
    bouncelog = wait_until(lambda: [line for line in (server.directory / "bouncelog.ec").read_text().splitlines()
                                    if line.split("@")[4] == "B"], what="a B record")
    assert "message timeout (last transfail:" in bouncelog[0]


def test_a_delayed_recipient_gets_one_delay_dsn(server_factory, mx_dns, sinks):
    """generate_delay_dsn: once a recipient has waited delay_dsn_retry_interval, its sender gets
    one RFC 3464 report with Action: delayed — not again on later retries, nor after a restart;
    not for a recipient whose NOTIFY leaves DELAY out."""
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}"  generate_delay_dsn = true  '
                'delay_dsn_retry_interval = 1 }\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\ndelay_dsn {{ }}')).start()
    send(server.port, ["tempfail-a@sink.test"])
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        client.sendmail("bob@sender.test", ["tempfail-b@sink.test"], b"Subject: quiet\r\n\r\nx\r\n",
                        rcpt_options=["NOTIFY=FAILURE"])
    notice = sink.wait_for(1, timeout=20)[0]
    assert notice.mail_from == "" and notice.recipients == ["alice@sender.test"]
    message, blocks = dsn_parts(notice.data)
    assert message["Subject"].startswith("Delayed Mail")
    recipient = blocks[1]
    assert recipient["Action"] == "delayed"
    assert recipient["Status"] == "4.3.0"
    assert recipient["Final-Recipient"] == "rfc822; tempfail-a@sink.test"
    assert "451 4.3.0 try again later" in recipient["Diagnostic-Code"]
    assert recipient["Will-Retry-Until"]
    # Later retries (every second or two) send no second notice.
    wait_until(lambda: len(mainlog(server, "T")) >= 6, what="more retries")
    assert len(sink.messages) == 1
    # Nor does a restart: the journal remembers the notice.
    server.stop()
    server.start()
    before = len(mainlog(server, "T"))
    wait_until(lambda: len(mainlog(server, "T")) >= before + 4, what="retries after the restart")
    assert len(sink.messages) == 1, [m.recipients for m in sink.messages]


# Every octet but the line-end ones (a bare CR or LF is refused at reception).
BINARY = bytes(octet for octet in range(256) if octet not in (10, 13))
EIGHT_BIT_MULTIPART = (
    "Subject: multipart\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Grüße aus Köln = zwei Zeilen, \r\nund eine sehr lange Zeile: " + "ä" * 60 + " \r\n"
    "--b1\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + BINARY + (
    "\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain ascii\r\n--b1--\r\n").encode()


def test_eight_bit_mail_is_made_seven_bit_for_a_next_hop_without_8bitmime(server_factory, mx_dns, sinks):
    """transform_8bitmime_content = ifneeded (the default): text parts become quoted-printable,
    other parts base64, and a message that is not MIME gains MIME headers; Python's email
    package reads back exactly what was sent."""
    old = sinks(eight_bit_mime=False)
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{old.port}" }}')).start()
    send(server.port, ["multi@sink.test"], body=EIGHT_BIT_MULTIPART)
    send(server.port, ["plain@sink.test"], body="Subject: plain\r\n\r\nNaïve café\r\n".encode())
    received = {m.recipients[0]: m for m in old.wait_for(2)}
    for message in received.values():
        assert all(octet < 128 for octet in message.data), message.data
        assert "BODY=8BITMIME" not in message.mail_line
    parsed = email.message_from_bytes(received["multi@sink.test"].data, policy=email_policy.default)
    original = email.message_from_bytes(EIGHT_BIT_MULTIPART, policy=email_policy.default)
    text, binary, ascii_part = parsed.iter_parts()
    sent_text, sent_binary, sent_ascii = original.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().startswith("Grüße aus Köln = zwei Zeilen, \r\nund eine sehr lange Zeile: ää")
    assert text.get_content().rstrip("\r\n") == sent_text.get_content().rstrip("\r\n")
    assert binary["Content-Transfer-Encoding"] == "base64"
    assert binary.get_content() == BINARY == sent_binary.get_payload(decode=True).rstrip(b"\r\n")
    assert ascii_part.get_content() == sent_ascii.get_content() and ascii_part["Content-Transfer-Encoding"] is None
    assert all(len(line) <= 78 for line in received["multi@sink.test"].data.split(b"\r\n"))
    plain = email.message_from_bytes(received["plain@sink.test"].data, policy=email_policy.default)
    assert plain["MIME-Version"] == "1.0" and plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content_type() == "text/plain" and plain.get_param("charset") == "unknown-8bit"
    assert plain.get_payload(decode=True) == "Naïve café\r\n".encode()
    assert len(mainlog(server, "D")) >= 2


def test_strict_refuses_what_cannot_be_made_seven_bit_and_no_sends_it_as_it_is(server_factory, mx_dns, sinks):
    old = sinks(eight_bit_mime=False)
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{old.port}"  transform_8bitmime_content = strict }}\n'
                f'domain "one.itest" {{ gateway = "127.0.0.1:{old.port}"  transform_8bitmime_content = no }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{old.port}" }}')).start()
    attached = ("Subject: forwarded\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nÜber\r\n--b--\r\n").encode()
    send(server.port, ["strict@sink.test"], body=attached)
    failed = wait_until(lambda: mainlog(server, "P"), what="a P line")
    assert failed[0][13].startswith("554 5.6.3 the next hop does not take 8-bit mail (no 8BITMIME)")
    assert "attached message (message/rfc822)" in failed[0][13]
    send(server.port, ["asis@one.itest"], body="Subject: as is\r\n\r\nÜber\r\n".encode())
    message = wait_until(lambda: [m for m in old.messages if m.recipients == ["asis@one.itest"]], what="as is")[0]
    assert "Über".encode() in message.data
