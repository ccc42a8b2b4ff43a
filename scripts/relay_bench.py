#!/usr/bin/env python3
"""End-to-end relay benchmark: smtp-source → server → Postfix smtp-sink, for Impulse and a local
Postfix in the same run, measured at the sink (messages the sink received per second, from the
first message injected to the last one received). Both servers fsync each message before 250.
Then the memory check: the sink is down while --down-messages messages queue up in Impulse;
its peak resident memory is reported. Loopback only.

usage: scripts/relay_bench.py [--rounds N] [--sizes 1024] [--sessions 10,50] [--messages N] [--down-messages N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BIN, ImpulseUnderTest, PostfixUnderTest  # noqa: E402


class CountingSink:
    """Postfix's smtp-sink with -c: its running counters tell how many messages arrived."""

    def __init__(self, port):
        self.port = port
        self.count = 0
        self.process = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "postfix", "-c", f"127.0.0.1:{port}", "1024"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)

    def _read(self):
        pending = b""
        while True:
            chunk = self.process.stdout.read1(65536)
            if not chunk:
                return
            pending = (pending + chunk)[-4096:]
            found = re.findall(rb"mesg=(\d+)", pending)
            if found:
                self.count = int(found[-1])

    def wait_for(self, target, timeout=600):
        deadline = time.time() + timeout
        while self.count < target:
            if time.time() > deadline:
                raise RuntimeError(f"sink on {self.port} got {self.count} of {target}")
            time.sleep(0.002)
        return time.monotonic()

    def stop(self):
        self.process.terminate()
        self.process.wait()


def relay(port, sink, messages, sessions, size):
    """Injects `messages` and waits until the sink has them all; returns messages/second."""
    before = sink.count
    started = time.monotonic()
    result = subprocess.run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
                             "-f", "sender@source.test", "-t", "rcpt@sink.test", "-M", "source.test", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed against port {port}: {result.stderr.strip()}")
    finished = sink.wait_for(before + messages)
    return messages / (finished - started)


def peak_memory_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1024")
    parser.add_argument("--sessions", default="10,50")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--down-messages", type=int, default=100000)
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    directory = Path(tempfile.mkdtemp(prefix="impulse-relay-bench-"))
    os.chmod(directory, 0o755)
    sinks, servers = [], []
    rows = []
    try:
        impulse_sink, postfix_sink = CountingSink(2731), CountingSink(2732)
        sinks += [impulse_sink, postfix_sink]
        impulse = ImpulseUnderTest(directory, 2725, name="impulse-relay",
                                   outbound='domain "sink.test" { gateway = "127.0.0.1:2731" }\n')
        postfix = PostfixUnderTest(directory, 2726, relay_port=2732)
        servers += [impulse, postfix]
        chains = {"impulse": (impulse, impulse_sink), "postfix": (postfix, postfix_sink)}
        for server, sink in chains.values():
            relay(server.port, sink, 200, 10, 1024)  # warm up
        for size in [int(s) for s in args.sizes.split(",")]:
            for sessions in [int(s) for s in args.sessions.split(",")]:
                results = {name: [] for name in chains}
                for round_number in range(args.rounds):
                    order = list(chains) if round_number % 2 == 0 else list(reversed(chains))
                    for name in order:
                        server, sink = chains[name]
                        results[name].append(relay(server.port, sink, args.messages, sessions, size))
                ratios = [i / p for i, p in zip(results["impulse"], results["postfix"])]
                row = (size, sessions, statistics.median(results["impulse"]), statistics.median(results["postfix"]),
                       statistics.median(ratios))
                rows.append(row)
                print(f"size={size} sessions={sessions} impulse={row[2]:.0f}/s postfix={row[3]:.0f}/s ratio={row[4]:.2f}", flush=True)
        for server in servers:
            server.stop()
        servers = []
        down_row = None
        if args.down_messages:
            # The next hop is down (nothing listens on 2739): everything queues.
            queued = ImpulseUnderTest(directory, 2727, name="impulse-down",
                                      outbound='domain "sink.test" { gateway = "127.0.0.1:2739" }\n')
            servers.append(queued)
            started = time.monotonic()
            subprocess.run(["/usr/sbin/smtp-source", "-s", "50", "-m", str(args.down_messages), "-l", "1024",
                            "-f", "sender@source.test", "-t", "rcpt@sink.test", "-M", "source.test", "127.0.0.1:2727"],
                           capture_output=True, check=True, timeout=3600)
            elapsed = time.monotonic() - started
            time.sleep(2)
            down_row = (args.down_messages, elapsed, peak_memory_kib(queued.process.pid))
            print(f"sink down: {args.down_messages} messages queued in {elapsed:.0f} s; peak RSS {down_row[2] / 1024:.0f} MiB", flush=True)
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception as error:  # keep cleaning up
                print(f"stop failed: {error}", file=sys.stderr)
        for sink in sinks:
            sink.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print(f"End-to-end relay, messages/second received by smtp-sink, medians of {args.rounds} alternating rounds of "
          f"{args.messages} messages (smtp-source → server → smtp-sink; both servers fsync before 250):")
    print()
    print("| size | sessions | Impulse msg/s | Postfix msg/s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for size, sessions, i, p, ratio in rows:
        print(f"| {size} | {sessions} | {i:.0f} | {p:.0f} | {ratio:.2f}× |")
    if down_row:
        print()
        print(f"Next hop down: {down_row[0]} messages of 1 KiB queued; Impulse's peak resident memory {down_row[2] / 1024:.0f} MiB.")


if __name__ == "__main__":
    main()
