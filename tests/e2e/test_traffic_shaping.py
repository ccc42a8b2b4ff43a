"""Traffic shaping end to end: outbound throttles, host scopes (MX rollup) and regex domain
scopes, against the recording sink, which notes when each message and connection arrived, with
MX records served by a real dnsmasq on loopback."""
import re
import smtplib
import subprocess
import urllib.request

import pytest

from conftest import BIN, start_dnsmasq
from test_delivery import deliver_config, mainlog, sinks, wait_until  # noqa: F401 (sinks is a fixture)


@pytest.fixture
def shared_mx_dns(tmp_path):
    """shared1.itest and shared2.itest share one MX host (mx.shared.itest); solo.itest has its
    own; every host is the loopback sink."""
    process, port = start_dnsmasq(tmp_path, [
        "--mx-host=shared1.itest,mx.shared.itest,10", "--mx-host=shared2.itest,mx.shared.itest,10",
        "--host-record=mx.shared.itest,127.0.0.1",
        "--mx-host=solo.itest,mx.solo.itest,10", "--host-record=mx.solo.itest,127.0.0.1",
        "--local=/itest/"], probe_name="shared1.itest")
    yield f"127.0.0.1@{port}"
    process.terminate()
    process.wait()


RELAY = ("shared1.itest", "shared2.itest", "solo.itest", "sender.test")
CONSOLE = 'Control_Listener {\n  Listen "ctl.sock" { }\n}\nHTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n'


def shaped(dns, sink, scopes, extra=""):
    return deliver_config(dns, f"remote_smtp_port = {sink.port}\n{scopes}", extra_global=CONSOLE + extra,
                          relay=RELAY)


def send_many(port, recipients):
    """One SMTP session, one message per recipient (so each is its own delivery)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for recipient in recipients:
            client.sendmail("alice@sender.test", [recipient], b"Subject: shaped\r\n\r\nHello.\r\n")


def console(server, *command):
    result = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result
    return result.stdout


def rate(times):
    """Events per second between the first and the last."""
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0])


def test_message_throttle_paces_delivery_without_failing_anything(server_factory, shared_mx_dns, sinks):
    sink = sinks()
    server = server_factory(**shaped(shared_mx_dns, sink, 'domain "solo.itest" { outbound_throttle_messages = "10" }')
                            ).start()
    send_many(server.port, [f"r{i}@solo.itest" for i in range(31)])
    messages = sink.wait_for(31, timeout=30)
    measured = rate([m.at for m in messages])
    assert 9.0 <= measured <= 11.0, f"{measured:.2f} messages/s for a throttle of 10/s"
    # Held work is not an attempt: no T line, every recipient delivered once.
    wait_until(lambda: len(mainlog(server, "D")) == 31, what="31 D records")
    assert mainlog(server, "T") == []
    listing = console(server, "throttle", "list")
    assert re.search(r"^domain solo\.itest messages 10/s: sent 31, held [1-9]\d*, next permit ",
                     listing, re.M), listing
    view = console(server, "domain", "solo.itest")
    assert "Throttle: domain solo.itest messages 10/s: sent 31" in view
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    holds = re.search(r'impulse_outbound_throttle_holds\{scope="domain",kind="messages"\} (\d+)', metrics)
    assert holds and int(holds.group(1)) > 0, metrics


def test_a_global_throttle_is_shared_by_every_domain(server_factory, shared_mx_dns, sinks):
    """Momentum's throttles are "by reference": one set globally limits the whole server, not
    each domain."""
    sink = sinks()
    server = server_factory(**shaped(shared_mx_dns, sink, "", extra='outbound_throttle_messages = "8"\n')).start()
    send_many(server.port, [f"g{i}@{'solo' if i % 2 else 'shared1'}.itest" for i in range(25)])
    messages = sink.wait_for(25, timeout=30)
    measured = rate([m.at for m in messages])
    assert 7.2 <= measured <= 8.8, f"{measured:.2f}/s across two domains for a global throttle of 8/s"
    assert "global messages 8/s: sent 25" in console(server, "throttle", "list")


def test_connection_throttle_paces_new_connections(server_factory, shared_mx_dns, sinks):
    sink = sinks()
    # One delivery per connection, so every message needs a connection of its own.
    server = server_factory(**shaped(shared_mx_dns, sink, 'domain "solo.itest" { outbound_throttle_connections = "4" '
                                                          'max_deliveries_per_connection = 1 }')).start()
    send_many(server.port, [f"c{i}@solo.itest" for i in range(13)])
    sink.wait_for(13, timeout=30)
    measured = rate(sink.connection_times)
    assert sink.connections == 13
    assert 3.6 <= measured <= 4.4, f"{measured:.2f} connections/s for a throttle of 4/s"
    assert mainlog(server, "T") == []


def test_host_scope_caps_connections_for_every_domain_behind_one_mx(server_factory, shared_mx_dns, sinks):
    # Each RCPT waits 0.4 s, so deliveries to the two domains would overlap without the cap.
    sink = sinks(slow_seconds=0.4)
    server = server_factory(**shaped(shared_mx_dns, sink, 'host "mx.shared.itest" { max_outbound_connections = 1 }')
                            ).start()
    send_many(server.port, [f"slow{i}@shared{1 + i % 2}.itest" for i in range(8)])
    messages = sink.wait_for(8, timeout=30)
    assert sink.max_open == 1, f"{sink.max_open} connections at once to one capped MX host"
    assert {m.recipients[0].split("@")[1] for m in messages} == {"shared1.itest", "shared2.itest"}
    # The connection out of one domain's mail carried the other's (same next hop): one in all.
    assert sink.connections == 1, f"{sink.connections} connections"
    view = console(server, "domain", "shared2.itest")
    assert "Host Scope: default host mx.shared.itest (connections " in view and "/1)" in view, view


def test_uncapped_domains_behind_one_mx_do_overlap(server_factory, shared_mx_dns, sinks):
    """The control for the test above: without the host scope the same load opens several
    connections at once."""
    sink = sinks(slow_seconds=0.4)
    server = server_factory(**shaped(shared_mx_dns, sink, "")).start()
    send_many(server.port, [f"slow{i}@shared{1 + i % 2}.itest" for i in range(8)])
    sink.wait_for(8, timeout=30)
    assert sink.max_open > 1


def test_regex_host_scope_throttle_is_shared_by_its_domains(server_factory, shared_mx_dns, sinks):
    sink = sinks()
    server = server_factory(**shaped(shared_mx_dns, sink, r'host "/^mx[.]shared[.]/" { outbound_throttle_messages = 5 }'
                                      + '\ndomain "solo.itest" { outbound_throttle_messages = 1000 }')).start()
    send_many(server.port, [f"h{i}@shared{1 + i % 2}.itest" for i in range(16)] + ["free@solo.itest"])
    messages = sink.wait_for(17, timeout=30)
    shared = [m.at for m in messages if "shared" in m.recipients[0]]
    measured = rate(shared)
    assert 4.5 <= measured <= 5.5, f"{measured:.2f}/s across two domains for a host throttle of 5/s"
    # solo.itest is not behind that host: it went without waiting behind the shared ones.
    solo = next(m.at for m in messages if m.recipients[0] == "free@solo.itest")
    assert solo < sorted(shared)[-1]
    listing = console(server, "throttle", "list")
    assert "host /^mx[.]shared[.]/ messages 5/s: sent 16" in listing, listing


def test_regex_domain_scope_applies_and_exact_names_win(server_factory, shared_mx_dns, sinks):
    sink, other = sinks(), sinks()
    scopes = (f'domain "/^shared[0-9][.]itest$/" {{ remote_smtp_port = {other.port} }}\n'
              f'domain "shared2.itest" {{ remote_smtp_port = {sink.port} }}')
    server = server_factory(**shaped(shared_mx_dns, sink, scopes)).start()
    send_many(server.port, ["a@shared1.itest", "b@shared2.itest", "c@solo.itest"])
    assert [m.recipients for m in other.wait_for(1)] == [["a@shared1.itest"]]
    assert sorted(r for m in sink.wait_for(2) for r in m.recipients) == ["b@shared2.itest", "c@solo.itest"]
