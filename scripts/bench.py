#!/usr/bin/env python3
"""Side-by-side inbound benchmark: the same smtp-source load against Impulse and a local Postfix.

Both servers fsync every accepted message before answering 250 (Postfix's queue does, Impulse's
spool always does). Rounds alternate the order of the two servers; the table shows medians and
the median of the per-round ratios, since the machine is shared and noisy. Loopback only.

usage: scripts/bench.py [--rounds N] [--sizes 1024,32768] [--sessions 1,10,50] [--messages N] [--no-policy-run]
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("IMPULSE_BIN", str(ROOT / ".build" / "release" / "impulse"))


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def busy_ticks():
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6]


def process_cpu(pid):
    """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port, messages, sessions, size):
    """Runs smtp-source; returns (messages/second, server CPU microseconds per message)."""
    hz = os.sysconf("SC_CLK_TCK")
    before_busy, before = busy_ticks(), os.times()
    started = time.monotonic()
    result = subprocess.run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
                             "-f", "sender@source.test", "-t", "rcpt@discard.test", "-M", "source.test",
                             f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    after_busy, after = busy_ticks(), os.times()
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed against port {port}: {result.stderr.strip()}")
    client = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    server_cpu = max(0.0, (after_busy - before_busy) / hz - client)
    return messages / elapsed, server_cpu * 1e6 / messages


class ImpulseUnderTest:
    """Impulse on its own spool; with `policy`, that Lua script is loaded as the scriptlet."""

    def __init__(self, directory, port, policy=None, name=None, outbound=None):
        """`outbound`: config text for delivery (the relay benchmark); without it mail to
        discard.test is only received and spooled (delivery suspended), as Postfix discards it."""
        self.port = port
        self.name = name or ("impulse-policy" if policy else "impulse")
        scriptlet = f'scriptlet "scriptlet" {{\n  script "bench" {{ source = "{policy}" }}\n}}\n' if policy else ""
        config = directory / f"{self.name}.conf"
        delivery = outbound if outbound is not None else 'domain "discard.test" { suspend_delivery = true }\n'
        config.write_text(f'hostname = "impulse.bench"\nspoolbase = "{self.name}-spool"\n'
                          f'relay_domains = ( "discard.test" "sink.test" )\n{delivery}'
                          f'ESMTP_Listener {{\n  listener_sessions_per_ip = 1000\n  Listen "127.0.0.1:{port}" {{ }}\n}}\n'
                          + scriptlet)
        name = self.name
        self.log = open(directory / f"{name}.log", "wb")
        self.process = subprocess.Popen([BIN, "serve", "--config", str(config), "--log-level", "warning"],
                                        stdout=self.log, stderr=self.log)
        wait_port(port)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


class PostfixUnderTest:
    """A private Postfix instance: its own config and queue; mail to discard.test is queued (fsync'd) and discarded."""

    def __init__(self, directory, port, relay_port=None):
        """With `relay_port`, mail to sink.test is relayed to 127.0.0.1:relay_port over SMTP."""
        self.port = port
        self.etc = directory / "postfix-etc"
        queue, data = directory / "postfix-queue", directory / "postfix-data"
        transport = f"sink.test=smtp:[127.0.0.1]:{relay_port}" if relay_port else "discard.test=discard:"
        for path in (self.etc, queue, data):
            path.mkdir()
        shutil.chown(data, "postfix")
        (self.etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = discard.test, sink.test
transport_maps = inline:{{ {transport} }}
default_transport = error:outbound mail disabled in the benchmark
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_recipient_maps =
alias_maps =
alias_database =
smtp_dns_support_level = disabled
maillog_file = {directory}/postfix.log
maillog_file_prefixes = {directory}
multi_instance_enable = no
""")
        services = ["pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
                    "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
                    "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
                    "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "showq unix n - n - - showq",
                    "error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard",
                    "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd"]
        (self.etc / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n" + "\n".join(services) + "\n")
        self.postfix("check")
        self.postfix("start")
        wait_port(port)

    def postfix(self, command):
        result = subprocess.run(["postfix", "-c", str(self.etc), command], capture_output=True, text=True)
        if result.returncode != 0:
            log = (self.etc.parent / "postfix.log")
            raise RuntimeError(f"postfix {command} failed: {log.read_text()[-2000:] if log.exists() else result.stderr}")

    def stop(self):
        self.postfix("stop")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1024,32768")
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--no-policy-run", action="store_true",
                        help="skip the third server (Impulse with scripts/bench/full-policy.lua)")
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    directory = Path(tempfile.mkdtemp(prefix="impulse-bench-"))
    os.chmod(directory, 0o755)  # Postfix's daemons run as the postfix user
    impulse = postfix = policy = None
    rows, policy_rows = [], []
    try:
        impulse = ImpulseUnderTest(directory, 2625)
        postfix = PostfixUnderTest(directory, 2626)
        servers = {"impulse": impulse, "postfix": postfix}
        if not args.no_policy_run:
            policy = ImpulseUnderTest(directory, 2627, policy=ROOT / "scripts" / "bench" / "full-policy.lua")
            servers["policy"] = policy
        for server in servers.values():
            load(server.port, 200, 10, 1024)  # warm up
        names = list(servers)
        for size in [int(s) for s in args.sizes.split(",")]:
            for sessions in [int(s) for s in args.sessions.split(",")]:
                results = {name: [] for name in names}
                for round_number in range(args.rounds):
                    # Rotate the order so no server always runs first (or last) on a noisy machine.
                    shift = round_number % len(names)
                    for name in names[shift:] + names[:shift]:
                        pid = servers[name].process.pid if name != "postfix" else None
                        before = process_cpu(pid) if pid else 0.0
                        rate, cpu = load(servers[name].port, args.messages, sessions, size)
                        own = (process_cpu(pid) - before) * 1e6 / args.messages if pid else None
                        results[name].append((rate, cpu, own))
                ratios = [i[0] / p[0] for i, p in zip(results["impulse"], results["postfix"])]
                row = (size, sessions, statistics.median(r[0] for r in results["impulse"]),
                       statistics.median(r[0] for r in results["postfix"]), statistics.median(ratios),
                       statistics.median(r[1] for r in results["impulse"]), statistics.median(r[1] for r in results["postfix"]))
                rows.append(row)
                line = (f"size={size} sessions={sessions} impulse={row[2]:.0f}/s postfix={row[3]:.0f}/s ratio={row[4]:.2f} "
                        f"cpu_us_per_msg impulse={row[5]:.0f} postfix={row[6]:.0f}")
                if policy:
                    costs = [1 - w[0] / i[0] for w, i in zip(results["policy"], results["impulse"])]
                    versus = [w[0] / p[0] for w, p in zip(results["policy"], results["postfix"])]
                    policy_row = (size, sessions, statistics.median(r[0] for r in results["policy"]), row[2],
                                  statistics.median(costs), min(costs), max(costs), statistics.median(versus),
                                  statistics.median(r[2] for r in results["policy"]),
                                  statistics.median(r[2] for r in results["impulse"]))
                    policy_rows.append(policy_row)
                    line += (f" | with full policy {policy_row[2]:.0f}/s cost={policy_row[4] * 100:.1f}% "
                             f"vs_postfix={policy_row[7]:.2f} server_cpu_us_per_msg={policy_row[8]:.0f}/{policy_row[9]:.0f}")
                print(line, flush=True)
    finally:
        for server in (impulse, postfix, policy):
            if server:
                try:
                    server.stop()
                except Exception as error:  # keep cleaning up
                    print(f"stop failed: {error}", file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print(f"Accepted messages/second, medians of {args.rounds} alternating rounds of {args.messages} messages "
          f"(smtp-source, one connection per message, both servers fsync before 250):")
    print()
    print("| size | sessions | Impulse msg/s | Postfix msg/s | ratio | Impulse CPU µs/msg | Postfix CPU µs/msg |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size, sessions, i, p, ratio, ic, pc in rows:
        print(f"| {size} | {sessions} | {i:.0f} | {p:.0f} | {ratio:.2f}× | {ic:.0f} | {pc:.0f} |")
    if policy_rows:
        print()
        print("With scripts/bench/full-policy.lua (every validation callout reads the vctx, sets a key, returns CONT);"
              " cost = 1 − policy/no-policy rate, per round (median, and the rounds' range); server CPU = the"
              " Impulse process's own user + system CPU per message, with / without the policy:")
        print()
        print("| size | sessions | with policy msg/s | without msg/s | policy cost | cost range | ratio to Postfix | server CPU µs/msg |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for size, sessions, w, i, cost, low, high, versus, with_cpu, without_cpu in policy_rows:
            print(f"| {size} | {sessions} | {w:.0f} | {i:.0f} | {cost * 100:.1f} % | {low * 100:.0f}–{high * 100:.0f} % "
                  f"| {versus:.2f}× | {with_cpu:.0f} / {without_cpu:.0f} |")


if __name__ == "__main__":
    main()
