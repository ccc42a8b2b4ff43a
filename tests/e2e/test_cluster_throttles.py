"""Cluster-wide throttles: two Impulse nodes and one Redis (Debian's redis-server, started by the
test on loopback in a temporary directory) share one cluster_outbound_throttle_messages; the
recording sink sees the combined rate. Redis stopped and started again mid-run: mail keeps
flowing on local limits and nothing is lost."""
import socket
import subprocess
import threading
import time

import pytest

from test_delivery import deliver_config, mainlog, sinks, wait_until  # noqa: F401 (sinks is a fixture)
from test_traffic_shaping import rate, send_many


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Redis:
    def __init__(self, directory, port):
        self.directory, self.port, self.process = directory, port, None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis(tmp_path):
    server = Redis(tmp_path, free_port())
    server.start()
    yield server
    server.stop()


def nodes(server_factory, sink, redis, rate_text):
    config = deliver_config(
        "127.0.0.1@1",
        f'domain "solo.itest" {{ gateway = "127.0.0.1:{sink.port}"  cluster_outbound_throttle_messages = "{rate_text}" }}\n'
        f'cluster {{ throttle_store = "redis://127.0.0.1:{redis.port}" }}',
        relay=("solo.itest", "sender.test"))
    return server_factory(**config).start(), server_factory(**config).start()


def send_from_both(first, second, count, prefix):
    threads = [threading.Thread(target=send_many, args=(node.port, [f"{prefix}{n}-{i}@solo.itest" for i in range(count)]))
               for n, node in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_nodes_share_one_cluster_throttle(server_factory, sinks, redis):
    sink = sinks()
    first, second = nodes(server_factory, sink, redis, "10")
    send_from_both(first, second, 20, "c")
    messages = sink.wait_for(40, timeout=30)
    measured = rate([m.at for m in messages])
    assert 9.0 <= measured <= 11.0, f"{measured:.2f}/s from two nodes for a cluster throttle of 10/s"
    # Both nodes sent their share.
    assert {m.recipients[0].split("-")[0] for m in messages} == {"c0", "c1"}


def test_nodes_keep_sending_while_redis_is_away_and_lose_nothing(server_factory, sinks, redis):
    sink = sinks()
    first, second = nodes(server_factory, sink, redis, "10")
    sender = threading.Thread(target=send_from_both, args=(first, second, 30, "r"))
    sender.start()
    time.sleep(1.0)
    redis.stop()
    time.sleep(1.5)
    during = len(sink.messages)
    redis.start()
    sender.join()
    messages = sink.wait_for(60, timeout=40)
    assert sorted(r for m in messages for r in m.recipients) == sorted(
        f"r{n}-{i}@solo.itest" for n in (0, 1) for i in range(30))
    assert during > 10, "mail kept flowing on local limits while Redis was away"
    for node in (first, second):
        log = node.log.read_text()
        assert "Redis at 127.0.0.1:" in log and "is unreachable" in log
        wait_until(lambda: "is reachable again" in node.log.read_text(), what="the store's return logged")
    assert mainlog(first, "T") == [] and mainlog(second, "T") == []


def test_a_cluster_throttle_needs_a_store(server_factory):
    from conftest import BIN
    server = server_factory(**deliver_config(
        "127.0.0.1@1", 'domain "solo.itest" { cluster_outbound_throttle_messages = "5" }'))
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode == 2
    assert ("'cluster_outbound_throttle_messages' needs a store every node shares: cluster { throttle_store = "
            '"redis://host:port" }') in result.stderr


THROTTLED_POLICY = """
msys.shared_throttle.create("rcpts", "%s")
local m = {}
function m:validate_rcptto(msg, rcpt, ac, vctx)
  local ok, wait = msys.shared_throttle.take("rcpts")
  if not ok then
    vctx:set_code(451, string.format("4.7.1 over the shared rate, try in %%.0f s", wait))
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("limits", m)
"""


def policy_nodes(server_factory, redis, rate_text, count=2):
    servers = []
    for _ in range(count):
        server = server_factory(
            '  relay_domains = ( "solo.itest" )',
            extra=('alerting {}\nscriptlet "scriptlet" { script "limits" { source = "limits" } }\n'
                   + (f'cluster {{ throttle_store = "redis://127.0.0.1:{redis.port}" }}\n' if redis else '')))
        (server.directory / "limits.lua").write_text(THROTTLED_POLICY % rate_text)
        servers.append(server.start())
    return servers


def offer_recipients(port, count, tag):
    """RCPT TO `count` times on one session; the number accepted."""
    import smtplib
    accepted = 0
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("alice@sender.test")
        for i in range(count):
            code, text = client.rcpt(f"{tag}{i}@solo.itest")
            if code == 250:
                accepted += 1
            else:
                assert code == 451 and b"over the shared rate" in text, (code, text)
        client.rset()
    return accepted


def test_a_named_throttle_from_lua_is_shared_by_two_nodes(server_factory, redis):
    # 10 at once, then one every 6 s: within a few seconds the two nodes together take 10.
    first, second = policy_nodes(server_factory, redis, "10/60")
    accepted = offer_recipients(first.port, 8, "a") + offer_recipients(second.port, 8, "b")
    accepted += offer_recipients(first.port, 4, "c")
    assert accepted in (10, 11), f"{accepted} recipients taken by two nodes under one shared 10/60"


def test_without_a_store_each_node_keeps_its_own_named_throttle(server_factory):
    first, second = policy_nodes(server_factory, None, "10/60")
    accepted = offer_recipients(first.port, 12, "a") + offer_recipients(second.port, 12, "b")
    assert accepted in (20, 21, 22), f"{accepted} recipients taken by two separate nodes of 10/60 each"


def test_named_throttles_fall_back_to_the_node_while_redis_is_away(server_factory, redis):
    first, = policy_nodes(server_factory, redis, "5/60", count=1)
    redis.stop()
    assert offer_recipients(first.port, 8, "a") in (5, 6)
    wait_until(lambda: "is unreachable" in first.log.read_text(), what="the store's absence logged")
