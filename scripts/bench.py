#!/usr/bin/env python3
"""Side-by-side inbound benchmark: the same smtp-source load against Impulse and a local Postfix.

Both servers fsync every accepted message before answering 250 (Postfix's queue does, Impulse's
spool always does). Rounds alternate the order of the two servers; the table shows medians and
the median of the per-round ratios, since the machine is shared and noisy. Loopback only.

Beside them: Impulse with the full-callout policy, Impulse with a realistic policy (a DNSBL on
loopback, regexes, a recipient table, header work), Postfix with the same checks where the machine
allows (its resolver pointed at the loopback DNSBL in a mount namespace), and smtp-sink, the
protocol limit of the load.

usage: scripts/bench.py [--rounds N] [--sizes 1024,32768] [--sessions 1,10,50] [--messages N]
                        [--no-policy-run] [--no-realistic-run]
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
# As root, a configuration without `user` runs only when told to.
ROOT_FLAG = ["--allow-root"] if os.geteuid() == 0 else []


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

    def __init__(self, directory, port, policy=None, name=None, outbound=None, extra="",
                 relay_domains=("discard.test", "sink.test")):
        """`outbound`: config text for delivery (the relay benchmark); without it mail to
        discard.test is only received and spooled (delivery suspended), as Postfix discards it."""
        self.port = port
        self.name = name or ("impulse-policy" if policy else "impulse")
        scriptlet = f'scriptlet "scriptlet" {{\n  script "bench" {{ source = "{policy}" }}\n}}\n' if policy else ""
        config = directory / f"{self.name}.conf"
        domains = " ".join(f'"{domain}"' for domain in relay_domains)
        delivery = outbound if outbound is not None else 'domain "discard.test" { suspend_delivery = true }\n'
        config.write_text(f'hostname = "impulse.bench"\nspoolbase = "{self.name}-spool"\n{extra}'
                          f'relay_domains = ( {domains} )\n{delivery}'
                          f'ESMTP_Listener {{\n  listener_sessions_per_ip = 1000\n  Listen "127.0.0.1:{port}" {{ }}\n}}\n'
                          + scriptlet)
        name = self.name
        self.log = open(directory / f"{name}.log", "wb")
        self.process = subprocess.Popen([BIN, "serve", "--config", str(config), "--log-level", "warning"] + ROOT_FLAG,
                                        stdout=self.log, stderr=self.log)
        wait_port(port)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


class PostfixUnderTest:
    """A private Postfix instance: its own config and queue; mail to discard.test is queued (fsync'd) and discarded."""

    def __init__(self, directory, port, relay_port=None, name="postfix", checks=False, main_extra=""):
        """With `relay_port`, mail to sink.test is relayed to 127.0.0.1:relay_port over SMTP. With
        `checks`, the realistic policy's checks in Postfix's terms: reject_rbl_client bl.itest
        (its resolver is pointed at the loopback DNSBL: Postfix runs in its own mount namespace
        where /etc/resolv.conf names 127.0.0.1), a regexp on HELO and on the sender, a recipient
        table, header_checks (two header rules). `main_extra`: more main.cf lines (a milter)."""
        self.port = port
        self.namespace = None
        self.etc = directory / f"{name}-etc"
        queue, data = directory / f"{name}-queue", directory / f"{name}-data"
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
maillog_file = {directory}/{name}.log
maillog_file_prefixes = {directory}
multi_instance_enable = no
{main_extra}""")
        if checks:
            (self.etc / "helo.regexp").write_text("/^(localhost|\\[?[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+\\]?)$/ REJECT EHLO is not a name\n")
            (self.etc / "sender.regexp").write_text("/(^|[@.])(spam|junk|bulk-?mail)\\.(test|example)$/ REJECT sender domain refused\n")
            (self.etc / "header.regexp").write_text("/^Subject:.*VIAGRA/ REJECT content refused\n/^From:.*@spam\\.test/ REJECT content refused\n")
            with open(self.etc / "main.cf", "a") as main:
                main.write(f"""smtpd_client_restrictions = reject_rbl_client bl.itest
smtpd_helo_required = yes
smtpd_helo_restrictions = check_helo_access regexp:{self.etc}/helo.regexp
smtpd_sender_restrictions = check_sender_access regexp:{self.etc}/sender.regexp
smtpd_recipient_restrictions = check_recipient_access inline:{{ rcpt@discard.test=OK, postmaster@discard.test=OK }}, reject
header_checks = regexp:{self.etc}/header.regexp
""")
            resolv = directory / "resolv.conf"
            resolv.write_text("nameserver 127.0.0.1\n")
            # A process that holds a mount namespace where /etc/resolv.conf names the loopback DNSBL;
            # postfix commands run inside it (nsenter), so its daemons resolve there.
            self.namespace = subprocess.Popen(["unshare", "-m", "sh", "-c",
                                               f"mount --bind {resolv} /etc/resolv.conf && exec sleep infinity"])
            time.sleep(0.3)
            if self.namespace.poll() is not None:
                raise RuntimeError("cannot make a mount namespace for Postfix's resolv.conf")
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
        prefix = ["nsenter", "-t", str(self.namespace.pid), "-m"] if self.namespace else []
        result = subprocess.run(prefix + ["postfix", "-c", str(self.etc), command], capture_output=True, text=True)
        if result.returncode != 0:
            log = (self.etc.parent / "postfix.log")
            raise RuntimeError(f"postfix {command} failed: {log.read_text()[-2000:] if log.exists() else result.stderr}")

    def stop(self):
        self.postfix("stop")
        if self.namespace:
            self.namespace.kill()
            self.namespace.wait()


class SinkUnderTest:
    """Postfix's smtp-sink: answers every command at once and keeps nothing — the protocol limit
    of the load (no fsync, no queue)."""

    def __init__(self, port):
        self.port = port
        self.process = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "postfix", f"127.0.0.1:{port}", "1024"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class DnsblUnderTest:
    """dnsmasq authoritative for bl.itest on 127.0.0.1:PORT: 2.0.0.127.bl.itest is listed
    (127.0.0.2), every other name is NXDOMAIN with the zone's SOA, negative TTL 300 seconds."""

    def __init__(self, directory, port):
        self.port = port
        self.process = subprocess.Popen([
            "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={port}", "--user=root",
            f"--pid-file={directory}/dnsmasq.pid", "--auth-server=ns.bl.itest,lo", "--auth-zone=bl.itest",
            "--auth-soa=1,hostmaster.bl.itest,1200,180,1209600,300", "--auth-ttl=300",
            "--host-record=2.0.0.127.bl.itest,127.0.0.2", "--log-facility=/dev/null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.process.poll() is not None:
            raise RuntimeError(f"dnsmasq could not listen on 127.0.0.1:{port}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def refused_as_listed(port):
    """True when a client connecting from 127.0.0.2 (listed in bl.itest) is refused with a reply
    naming the DNSBL, at whatever command the server refuses it: the checks really run."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0))
    replies = []
    stream = client.makefile("rb")
    try:
        for command in (None, b"EHLO source.test", b"MAIL FROM:<sender@source.test>", b"RCPT TO:<rcpt@discard.test>"):
            if command:
                client.sendall(command + b"\r\n")
            while True:
                line = stream.readline().decode(errors="replace")
                replies.append(line.strip())
                if len(line) < 4 or line[3] != "-":
                    break
            if not replies[-1] or replies[-1][0] in "45":
                break
    except OSError:
        pass
    finally:
        client.close()
    return any(reply[:1] == "5" and "bl.itest" in reply for reply in replies)


def port_free(port, kind=socket.SOCK_DGRAM):
    probe = socket.socket(socket.AF_INET, kind)
    try:
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def alternating_rounds(servers, rounds, messages, sessions, size):
    """The same smtp-source load against each server, `rounds` times, the order rotated each round
    so no server always runs first (or last) on a noisy machine. Per server, a list of (msg/s,
    machine CPU µs/msg, the Impulse process's own CPU µs/msg or None for the others)."""
    names = list(servers)
    results = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            server = servers[name]
            pid = server.process.pid if isinstance(server, ImpulseUnderTest) else None
            before = process_cpu(pid) if pid else 0.0
            rate, cpu = load(server.port, messages, sessions, size)
            own = (process_cpu(pid) - before) * 1e6 / messages if pid else None
            results[name].append((rate, cpu, own))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1024,32768")
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--no-policy-run", action="store_true",
                        help="skip Impulse with scripts/bench/full-policy.lua")
    parser.add_argument("--no-realistic-run", action="store_true",
                        help="skip Impulse with scripts/bench/realistic-policy.lua and Postfix with the same checks")
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    directory = Path(tempfile.mkdtemp(prefix="impulse-bench-"))
    os.chmod(directory, 0o755)  # Postfix's daemons run as the postfix user
    servers, helpers = {}, []
    notes = []
    rows = []
    try:
        servers["impulse"] = ImpulseUnderTest(directory, 2625)
        servers["postfix"] = PostfixUnderTest(directory, 2626)
        servers["sink"] = SinkUnderTest(2629)
        if not args.no_policy_run:
            servers["policy"] = ImpulseUnderTest(directory, 2627, policy=ROOT / "scripts" / "bench" / "full-policy.lua")
        if not args.no_realistic_run:
            # Port 53 lets Postfix's resolver (libc: port 53 only) use the same DNSBL.
            dns_port = 53 if port_free(53) and port_free(53, socket.SOCK_STREAM) else 2653
            helpers.append(DnsblUnderTest(directory, dns_port))
            servers["realistic"] = ImpulseUnderTest(
                directory, 2628, policy=ROOT / "scripts" / "bench" / "realistic-policy.lua", name="impulse-realistic",
                extra=f'dns_nameservers = ( "127.0.0.1@{dns_port}" )\n')
            if dns_port == 53:
                try:
                    servers["postfix-checks"] = PostfixUnderTest(directory, 2630, name="postfix-checks", checks=True)
                except Exception as error:
                    notes.append(f"Postfix with the same checks not run: {error}")
            else:
                notes.append("Postfix with the same checks not run: port 53 on 127.0.0.1 is taken")
        for name in ("realistic", "postfix-checks"):
            if name in servers and not refused_as_listed(servers[name].port):
                raise RuntimeError(f"{name}: a client at 127.0.0.2 (listed in bl.itest) was not refused: "
                                   "the DNSBL check is not running")
        for server in servers.values():
            load(server.port, 200, 10, 1024)  # warm up
        names = list(servers)
        for size in [int(s) for s in args.sizes.split(",")]:
            for sessions in [int(s) for s in args.sessions.split(",")]:
                results = alternating_rounds(servers, args.rounds, args.messages, sessions, size)
                row = {"size": size, "sessions": sessions}
                for name in names:
                    row[name] = statistics.median(r[0] for r in results[name])
                    if results[name][0][2] is not None:
                        row[name + " cpu"] = statistics.median(r[2] for r in results[name])
                    row[name + " machine cpu"] = statistics.median(r[1] for r in results[name])
                for name in names:
                    for peer in ("postfix", "postfix-checks", "sink", "impulse"):
                        if peer in results and peer != name:
                            row[f"{name}/{peer}"] = statistics.median(
                                a[0] / b[0] for a, b in zip(results[name], results[peer]))
                rows.append(row)
                print(f"size={size} sessions={sessions} " + " ".join(
                    f"{name}={row[name]:.0f}/s" for name in names) + " | " + " ".join(
                    f"{name}/{peer}={row[f'{name}/{peer}']:.2f}" for name in names if name.startswith("impulse")
                    or name in ("policy", "realistic") for peer in ("postfix", "postfix-checks", "sink")
                    if f"{name}/{peer}" in row), flush=True)
    finally:
        for server in list(servers.values()) + helpers:
            try:
                server.stop()
            except Exception as error:  # keep cleaning up
                print(f"stop failed: {error}", file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)
    report(rows, args, notes)


def report(rows, args, notes):
    print()
    print(f"Accepted messages/second, medians of {args.rounds} alternating rounds of {args.messages} messages "
          f"(smtp-source, one connection per message; Impulse and Postfix fsync before 250, smtp-sink keeps "
          f"nothing). Ratios are medians of the per-round ratios.")
    print()
    print("| size | sessions | Impulse msg/s | Postfix msg/s | smtp-sink msg/s | Impulse/Postfix | Impulse/sink "
          "| Impulse CPU µs/msg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['size']} | {row['sessions']} | {row['impulse']:.0f} | {row['postfix']:.0f} | {row['sink']:.0f} "
              f"| {row['impulse/postfix']:.2f}× | {row['impulse/sink']:.2f}× | {row['impulse cpu']:.0f} |")
    for name, title in (("policy", "scripts/bench/full-policy.lua (every validation callout reads the vctx, "
                                   "sets a key, returns CONT)"),
                        ("realistic", "scripts/bench/realistic-policy.lua (DNSBL at connect, per-IP gauge, regexes "
                                      "on EHLO and sender, recipient table, two header reads and one header "
                                      "added, binding)")):
        if name not in rows[0]:
            continue
        print()
        print(f"With {title}; server CPU = the Impulse process's own user + system CPU per message:")
        print()
        checks = "postfix-checks" in rows[0]
        print("| size | sessions | msg/s | vs Postfix | " + ("vs Postfix with the same checks | " if checks and name == "realistic" else "")
              + "vs smtp-sink | vs Impulse without policy | server CPU µs/msg |")
        print("|---:|---:|---:|---:|" + ("---:|" if checks and name == "realistic" else "") + "---:|---:|---:|")
        for row in rows:
            comparable = (f" {row[f'{name}/postfix-checks']:.2f}× ({row['postfix-checks']:.0f}/s) |"
                          if checks and name == "realistic" else "")
            print(f"| {row['size']} | {row['sessions']} | {row[name]:.0f} | {row[f'{name}/postfix']:.2f}× |{comparable} "
                  f"{row[f'{name}/sink']:.2f}× | {row[f'{name}/impulse']:.2f}× | {row[name + ' cpu']:.0f} |")
    for note in notes:
        print(f"\nNote: {note}")


if __name__ == "__main__":
    main()
