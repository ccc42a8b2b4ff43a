#!/usr/bin/env python3
"""DKIM signing benchmark: smtp-source → server → Postfix smtp-sink with every message signed
(RSA-2048, relaxed/relaxed), for Impulse (its opendkim stanza) and for Postfix with OpenDKIM's
milter (Debian's opendkim) in the same run, measured at the sink in alternating rounds; Impulse
without signing runs alongside, so that signing's own CPU per message is the difference in the
process's CPU time (user + system) per message, next to OpenDKIM's CPU per message. Before the
rounds one message through each signing chain is captured and its signature checked with dkimpy,
so a benchmark of unsigned mail cannot pass for one of signed mail. Loopback only.

usage: scripts/dkim_bench.py [--rounds N] [--sessions 10,50] [--messages N] [--size 1024]
"""
import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BIN, ImpulseUnderTest, PostfixUnderTest, wait_port  # noqa: E402
from relay_bench import CountingSink, relay  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class OpenDKIMUnderTest:
    """Debian's OpenDKIM as a signing milter on 127.0.0.1:port, in the foreground."""

    def __init__(self, directory, port, key):
        self.port = port
        config = directory / "opendkim.conf"
        config.write_text(f"""Syslog no
Mode s
Domain source.test
Selector bench
KeyFile {key}
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
Socket inet:{port}@127.0.0.1
PidFile {directory}/opendkim.pid
UserID postfix
InternalHosts 127.0.0.0/8
RequireSafeKeys false
""")
        shutil.chown(key, "postfix")
        os.chmod(key, 0o600)
        self.process = subprocess.Popen(["/usr/sbin/opendkim", "-f", "-x", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", default="10,50")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    directory = Path(tempfile.mkdtemp(prefix="impulse-dkim-bench-"))
    os.chmod(directory, 0o755)
    key = directory / "bench.key"
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    impulse_key = directory / "impulse.key"
    shutil.copy(key, impulse_key)
    stanza = (f'opendkim "opendkim1" {{\n  header_canon = "relaxed"\n  body_canon = "relaxed"\n'
              f'  key = "{impulse_key}"\n  dkim_domain "source.test" {{ selector = "bench" }}\n}}\n')
    sinks, servers, rows = [], [], []
    try:
        # Each server joins `servers` as soon as it runs, so that a failure stops what started.
        signing = ImpulseUnderTest(directory, 2725, name="impulse-dkim", extra=stanza,
                                   relay_domains=("sink.test", "check.test"),
                                   outbound=('domain "sink.test" { gateway = "127.0.0.1:2731" }\n'
                                             'domain "check.test" { gateway = "127.0.0.1:2741" }\n'))
        servers.append(signing)
        plain = ImpulseUnderTest(directory, 2727, name="impulse-plain",
                                 outbound='domain "sink.test" { gateway = "127.0.0.1:2733" }\n')
        servers.append(plain)
        milter = OpenDKIMUnderTest(directory, 2735, key)
        servers.append(milter)
        postfix = PostfixUnderTest(directory, 2726, relay_port=2732, main_extra=(
            "smtpd_milters = inet:127.0.0.1:2735\nmilter_default_action = tempfail\n"
            "milter_protocol = 6\nrelay_domains = sink.test, check.test\n"
            "transport_maps = inline:{ sink.test=smtp:[127.0.0.1]:2732, check.test=smtp:[127.0.0.1]:2742 }\n"))
        servers.append(postfix)
        check_signatures(record, signing.port, postfix.port)
        sinks = [CountingSink(2731), CountingSink(2732), CountingSink(2733)]
        chains = {"impulse": (signing, sinks[0]), "postfix": (postfix, sinks[1]), "impulse-unsigned": (plain, sinks[2])}
        for server, sink in chains.values():
            relay(server.port, sink, 200, 10, args.size)  # warm up
        for sessions in [int(s) for s in args.sessions.split(",")]:
            rates = {name: [] for name in chains}
            cpu = {"impulse": [], "impulse-unsigned": [], "opendkim": []}
            for round_number in range(args.rounds):
                order = list(chains) if round_number % 2 == 0 else list(reversed(chains))
                for name in order:
                    server, sink = chains[name]
                    pid = milter.process.pid if name == "postfix" else server.process.pid
                    before = cpu_seconds(pid)
                    rates[name].append(relay(server.port, sink, args.messages, sessions, args.size))
                    cpu["opendkim" if name == "postfix" else name].append(
                        (cpu_seconds(pid) - before) / args.messages * 1e6)
            ratios = [i / p for i, p in zip(rates["impulse"], rates["postfix"])]
            signing_cost = [s - u for s, u in zip(cpu["impulse"], cpu["impulse-unsigned"])]
            row = (sessions, statistics.median(rates["impulse"]), statistics.median(rates["postfix"]),
                   statistics.median(ratios), statistics.median(rates["impulse-unsigned"]),
                   statistics.median(cpu["impulse"]), statistics.median(signing_cost), statistics.median(cpu["opendkim"]))
            rows.append(row)
            print(f"sessions={sessions} impulse+dkim={row[1]:.0f}/s postfix+opendkim={row[2]:.0f}/s ratio={row[3]:.2f} "
                  f"impulse-unsigned={row[4]:.0f}/s", flush=True)
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception as error:  # keep cleaning up
                print(f"stop failed: {error}", file=sys.stderr)
        for sink in sinks:
            sink.stop()
        if os.environ.get("KEEP_BENCH_DIR"):
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    print()
    print(f"Relay with DKIM signing (RSA-2048, relaxed/relaxed), messages/second received by smtp-sink, medians "
          f"of {args.rounds} alternating rounds of {args.messages} messages of {args.size} octets:")
    print()
    print("| sessions | Impulse+DKIM msg/s | Postfix+OpenDKIM msg/s | ratio | Impulse unsigned msg/s | "
          "Impulse CPU µs/msg | of it signing | OpenDKIM CPU µs/msg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sessions, i, p, ratio, unsigned, cpu_all, signing_cpu, milter_cpu in rows:
        print(f"| {sessions} | {i:.0f} | {p:.0f} | {ratio:.2f}× | {unsigned:.0f} | {cpu_all:.0f} | {signing_cpu:.0f} | "
              f"{milter_cpu:.0f} |")


def check_signatures(record, impulse_port, postfix_port):
    """One message through each signing chain to a capturing sink (the domain check.test, routed
    apart from the benchmark's sinks): both chains must sign, and dkimpy must verify it."""
    import smtplib

    import dkim
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
    from sink import Sink
    lookup = lambda name, timeout=5: record if name.decode().rstrip(".") == "bench._domainkey.source.test" else None
    message = (b"From: sender@source.test\r\nTo: rcpt@check.test\r\nSubject: check\r\n"
               b"Date: Sat, 05 Dec 2026 00:00:00 +0000\r\nMessage-ID: <check@source.test>\r\n\r\nbody\r\n")
    for label, port, sink_port in (("Impulse", impulse_port, 2741), ("Postfix+OpenDKIM", postfix_port, 2742)):
        capture = Sink(port=sink_port)
        try:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                    client.sendmail("sender@source.test", ["rcpt@check.test"], message)
            except smtplib.SMTPException as error:
                sys.exit(f"{label} refused the check message: {error}")
            data = capture.wait_for(1, timeout=60)[0].data
        finally:
            capture.close()
        if b"DKIM-Signature:" not in data or not dkim.verify(data, dnsfunc=lookup):
            sys.exit(f"{label} did not sign verifiably: {data[:400]!r}")


if __name__ == "__main__":
    main()
