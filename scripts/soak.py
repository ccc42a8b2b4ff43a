#!/usr/bin/env python3
"""Soak run (make soak): not a CI test.

1. Idle sessions: opens N concurrent SMTP sessions (default 10,000) that only read their greeting,
   and reports the server's resident memory per session.
2. Crashes under load: R rounds (default 20) of senders delivering through Impulse to a capture
   server on loopback while Impulse is killed with SIGKILL at a random moment and restarted.
   Every message the senders saw acknowledged (250 after DATA) must reach the capture server:
   the run reports lost (must be 0) and duplicated messages.

Everything listens on 127.0.0.1 only; each loop is bounded in count and time.
"""
import argparse
import os
import random
import re
import resource
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from sink import Sink  # noqa: E402  (the recording sink the delivery tests use)

BIN = os.environ.get("IMPULSE_BIN", str(ROOT / ".build" / "release" / "impulse"))
# As root, a configuration without `user` runs only when told to.
ROOT_FLAG = ["--allow-root"] if os.geteuid() == 0 else []


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, directory: Path, port: int, sink_port: int | None):
        self.directory, self.port = directory, port
        gateway = f'gateway = "127.0.0.1:{sink_port}"\nretry_interval = 1\nmax_retry_interval = 2\n' if sink_port else "suspend_delivery = true\n"
        (directory / "ecelerity.conf").write_text(
            f'hostname = "soak.test"\nspoolbase = "spool"\n{gateway}'
            f'ESMTP_Listener {{\n  relay_hosts = ( "127.0.0.0/8" )\n  listener_sessions = 0\n  listener_sessions_per_ip = 0\n'
            f'  Listen "127.0.0.1:{port}" {{ }}\n}}\n')
        self.process = None

    def start(self):
        log = open(self.directory / "impulse.log", "ab")
        self.process = subprocess.Popen([BIN, "serve", "--config", str(self.directory / "ecelerity.conf")] + ROOT_FLAG, stdout=log, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(3) == b"220":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("impulse did not start")

    def rss_kib(self):
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def idle_sessions(count: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count * 2 + 1000)), hard))
    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory), free_port(), None)
        server.start()
        time.sleep(1)
        before = server.rss_kib()
        sockets = []
        started = time.time()
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sockets.append(connection)
        greeted = sum(1 for connection in sockets if connection.recv(64).startswith(b"220"))
        time.sleep(2)
        after = server.rss_kib()
        print(f"idle sessions: {greeted} of {count} greeted in {time.time() - started:.1f} s; "
              f"RSS {before} KiB -> {after} KiB, {(after - before) * 1024 / max(1, count):.0f} octets per session")
        probe = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
        print(f"with them all open, a new session's EHLO answers {probe.ehlo()[0]}")
        probe.quit()
        for connection in sockets:
            connection.close()
        server.stop()
        return greeted == count


def crash_rounds(rounds: int, senders: int, seconds: float):
    with tempfile.TemporaryDirectory() as directory:
        sink = Sink()
        server = Server(Path(directory), free_port(), sink.port)
        acknowledged, lock, serial = set(), threading.Lock(), [0]

        def sender(stop_at):
            while time.time() < stop_at:
                try:
                    client = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
                    while time.time() < stop_at:
                        with lock:
                            serial[0] += 1
                            tag = f"soak-{serial[0]}"
                        client.sendmail("soak@source.test", ["r@dest.test"], f"Message-ID: <{tag}@soak.test>\r\nSubject: {tag}\r\n\r\n{tag}\r\n")
                        with lock:
                            acknowledged.add(tag)
                except (smtplib.SMTPException, OSError):
                    time.sleep(0.05)  # the server is down: try again until the round ends

        for round_number in range(rounds):
            server.start()
            stop_at = time.time() + seconds
            threads = [threading.Thread(target=sender, args=(stop_at,)) for _ in range(senders)]
            for thread in threads:
                thread.start()
            time.sleep(random.uniform(0.2, seconds * 0.9))
            server.kill()
            for thread in threads:
                thread.join()
            print(f"round {round_number + 1}: {len(acknowledged)} acknowledged so far", flush=True)
        server.start()  # the last start delivers what is left
        deadline = time.time() + 120
        def received():
            return [re.search(rb"Message-ID: <(soak-\d+)@", m.data).group(1).decode() for m in list(sink.messages)]
        while time.time() < deadline and not acknowledged <= set(received()):
            time.sleep(0.5)
        server.stop()
        got = received()
        lost = acknowledged - set(got)
        duplicates = len(got) - len(set(got))
        print(f"crash rounds: {rounds}; acknowledged {len(acknowledged)}, received {len(set(got))} distinct "
              f"({len(got)} deliveries): lost {len(lost)}, duplicated {duplicates} "
              f"({100.0 * duplicates / max(1, len(acknowledged)):.2f} % of acknowledged)")
        sink.close()
        return not lost


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round under load")
    args = parser.parse_args()
    ok = idle_sessions(args.sessions)
    ok = crash_rounds(args.rounds, args.senders, args.seconds) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
