#!/usr/bin/env python3
"""Queue-manager scaling benchmark: how delivery throughput and the CPU Impulse spends per message
change with the number of distinct destination domains, throttles and a host scope in force.

For each domain count, Impulse (release build) queues --messages messages spread evenly over that
many domains (d0.bench … dN.bench) while their next hop is down, then the next hop (Postfix's
smtp-sink) comes up and the console's `flush domain all` releases everything at once. Measured
from the flush to the last message at the sink: messages per second, and Impulse's CPU time
(user + system, from /proc) per message. Every domain falls in one regex domain scope routed to
the sink, with an outbound throttle (high enough not to bind: its bookkeeping is what is
measured) and a host scope capping the connections to the sink. Loopback only.

usage: scripts/queue_bench.py [--domains 10,1000,10000] [--messages 20000] [--rounds 3] [--sessions 8]
"""
import argparse
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BIN, ImpulseUnderTest  # noqa: E402
from relay_bench import CountingSink  # noqa: E402

SINK_PORT = 2741
SMTP_PORT = 2740


def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def inject(port, messages, domains, sessions):
    """Sends `messages` messages (one recipient each), spread over `domains` domains, from
    `sessions` SMTP sessions in parallel."""
    body = b"Subject: queue bench\r\n\r\n" + b"x" * 900 + b"\r\n"

    def worker(first):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for number in range(first, messages, sessions):
                client.sendmail("sender@source.test", [f"r{number}@d{number % domains}.bench"], body)

    threads = [threading.Thread(target=worker, args=(first,)) for first in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def console(directory, *words):
    return subprocess.run([BIN, "console", "--socket", str(directory / "ctl.sock"), *words],
                          capture_output=True, text=True, timeout=60)


def one_round(directory, domains, messages, sessions):
    os.chdir(directory)
    outbound = (
        f'domain "/[.]bench$/" {{ gateway = "127.0.0.1:{SINK_PORT}"  outbound_throttle_messages = "1000000"\n'
        f'  retry_interval = 3600  max_outbound_connections = 4 }}\n'
        'host "127.0.0.1" { max_outbound_connections = 64 }\n'
        f'Control_Listener {{\n  Listen "{directory}/ctl.sock" {{ }}\n}}\n')
    impulse = ImpulseUnderTest(directory, SMTP_PORT, name=f"impulse-queue-{domains}", outbound=outbound,
                               relay_domains=("*.bench",))
    sink = None
    try:
        inject(SMTP_PORT, messages, domains, sessions)
        # Every queue has tried once and found the next hop down: its work waits an hour.
        time.sleep(3)
        sink = CountingSink(SINK_PORT)
        cpu_before = cpu_seconds(impulse.process.pid)
        started = time.monotonic()
        flushed = console(directory, "flush", "domain", "all")
        if flushed.returncode != 0:
            raise RuntimeError(f"flush failed: {flushed.stdout} {flushed.stderr}")
        finished = sink.wait_for(messages, timeout=900)
        cpu = cpu_seconds(impulse.process.pid) - cpu_before
        return messages / (finished - started), cpu / messages * 1e6
    finally:
        impulse.stop()
        if sink:
            sink.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="10,1000,10000")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    rows = []
    for domains in [int(d) for d in args.domains.split(",")]:
        rates, costs = [], []
        for _ in range(args.rounds):
            directory = Path(tempfile.mkdtemp(prefix="impulse-queue-bench-"))
            os.chmod(directory, 0o755)
            try:
                rate, cost = one_round(directory, domains, args.messages, args.sessions)
            finally:
                os.chdir("/")
                shutil.rmtree(directory, ignore_errors=True)
            rates.append(rate)
            costs.append(cost)
            print(f"domains={domains} rate={rate:.0f}/s cpu={cost:.0f} us/msg", flush=True)
        rows.append((domains, statistics.median(rates), statistics.median(costs)))
    print()
    print(f"Queue-manager scaling: {args.messages} queued messages of 1 KiB released at once by `flush domain all`,"
          f" delivered to smtp-sink; medians of {args.rounds} rounds:")
    print()
    print("| domains | messages/domain | delivered msg/s | Impulse CPU µs/msg |")
    print("|---:|---:|---:|---:|")
    for domains, rate, cost in rows:
        print(f"| {domains} | {args.messages // domains} | {rate:.0f} | {cost:.0f} |")


if __name__ == "__main__":
    main()
