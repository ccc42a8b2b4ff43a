"""Prometheus metrics on the HTTP_Listener, checked against a known load."""
import re
import smtplib
import urllib.error
import urllib.request

from test_policy import policy_server

POLICY = """
local m = {}
function m:validate_rcptto(msg, str, accept, vctx)
  if msg:rcptto():find("^blocked@") then vctx:set_code(550, "5.7.1 no") end
  return msys.core.VALIDATE_CONT
end
function m:validate_data(msg, accept, vctx) return msys.core.VALIDATE_CONT end
msys.registerModule("m", m)
"""


def value(text, name, labels=""):
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    assert match, f"{name}{labels} not in:\n{text}"
    return float(match.group(1))


def test_metrics_count_a_known_load(server_factory):
    server = policy_server(server_factory, {"m": POLICY}, body='  relay_domains = ( "example.test" "other.test" )')
    server.config.write_text(server.config.read_text() + 'HTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n')
    server.start()
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("a@source.test", ["x@example.test", "y@other.test"], "Subject: 1\r\n\r\nbody\r\n")
        client.sendmail("a@source.test", ["z@example.test", "blocked@example.test"], "Subject: 2\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("a@source.test", ["w@example.test"], "Subject: 3\r\n\r\nbody\r\n")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert value(text, "impulse_connections_total") == 2
    received = dict(re.findall(r'^impulse_messages_received_total\{(.*)\} ([0-9.]+)$', text, re.M))
    assert {tuple(sorted(k.split(","))): float(v) for k, v in received.items()} == {
        ('binding="default"', 'domain="example.test"'): 3, ('binding="default"', 'domain="other.test"'): 1}
    assert value(text, "impulse_recipients_rejected_total", '{domain="example.test"}') == 1
    assert value(text, "impulse_rejections_total") == 1
    assert value(text, "impulse_lua_callout_duration_seconds_count", '{callout="validate_rcptto"}') == 5
    assert value(text, "impulse_lua_callout_duration_seconds_count", '{callout="validate_data"}') == 3
    # Per module and callout: module "m" ran its validate_rcptto five times.
    module_counts = re.findall(r'^impulse_lua_module_duration_seconds_count\{(.*)\} ([0-9.]+)$', text, re.M)
    assert {tuple(sorted(labels.split(","))): float(count) for labels, count in module_counts} == {
        ('callout="validate_rcptto"', 'module="m"'): 5, ('callout="validate_data"', 'module="m"'): 3}
    assert value(text, "impulse_queue_active") == 4  # held: not a delivery test
    for verb, count in (("EHLO", 2), ("MAIL", 3), ("RCPT", 5), ("DATA", 3), ("QUIT", 2), ("VRFY", 0)):
        assert value(text, "impulse_smtp_commands_total", f'{{command="{verb}"}}') == count, verb
    assert value(text, "impulse_spool_bytes") > 0
    assert value(text, "impulse_threadpool_queued", '{pool="IO"}') == 0
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as error:
        assert error.code == 404
