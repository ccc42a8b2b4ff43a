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
