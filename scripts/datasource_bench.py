#!/usr/bin/env python3
"""Recipient look-ups in a database at RCPT: Impulse's msys.db against Postfix's sqlite: and
pgsql: maps, the same smtp-source load, side by side in alternating rounds.

Impulse runs a policy whose validate_rcptto asks a `Datasource` for the recipient
(scripts/bench/datasource-policy.lua): SQLite and PostgreSQL, with msys.db's result cache and
with `nocache` (every RCPT a query). Postfix asks the same table through
`check_recipient_access sqlite:` / `pgsql:` (no result cache: every RCPT a query). Both reject an
unknown recipient and fsync each accepted message before 250. PostgreSQL is a real server started
on loopback in a temporary directory (tests/e2e/databases.py). The look-up's cost is Impulse's
own CPU per message minus that of Impulse with the same policy's in-memory table.

usage: scripts/datasource_bench.py [--rounds N] [--sessions 10,50] [--messages N] [--size N]
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from bench import BIN, ImpulseUnderTest, PostfixUnderTest, alternating_rounds, load  # noqa: E402
from databases import PostgreSQL  # noqa: E402

POLICY = ROOT / "scripts" / "bench" / "datasource-policy.lua"
RECIPIENTS = ["rcpt@discard.test", "postmaster@discard.test"] + [f"user{i}@discard.test" for i in range(10000)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", default="10,50")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no release binary at {BIN}: run 'swift build -c release' first")
    directory = Path(tempfile.mkdtemp(prefix="impulse-dsbench-"))
    os.chmod(directory, 0o755)  # Postfix's daemons run as the postfix user and read the SQLite file
    database = directory / "recipients.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE recipients (address TEXT PRIMARY KEY, action TEXT)")
        db.executemany("INSERT INTO recipients VALUES (?, 'OK')", [(r,) for r in RECIPIENTS])
    os.chmod(database, 0o644)
    postgres = PostgreSQL().start()
    postgres.sql("CREATE TABLE recipients (address TEXT PRIMARY KEY, action TEXT);"
                 "INSERT INTO recipients SELECT 'user' || i || '@discard.test', 'OK' FROM generate_series(0, 9999) i;"
                 "INSERT INTO recipients VALUES ('rcpt@discard.test', 'OK'), ('postmaster@discard.test', 'OK');")
    pg_uri = postgres.uri
    (directory / "sqlite.cf").write_text(f"dbpath = {database}\nquery = SELECT action FROM recipients WHERE address='%s'\n")
    (directory / "pgsql.cf").write_text(f"hosts = inet:127.0.0.1:{postgres.port}\nuser = ectest\npassword = ectest\n"
                                        "dbname = ectest\nquery = SELECT action FROM recipients WHERE address='%s'\n")
    for cf in ("sqlite.cf", "pgsql.cf"):
        os.chmod(directory / cf, 0o644)

    def impulse(port, name, uri, nocache):
        extra = f'Datasource "lookups" {{ uri = ( "{uri}" ) serialized = false }}\n' if uri else ""
        policy = directory / f"{name}.lua"
        policy.write_text(POLICY.read_text().replace("{{nocache}}", "true" if nocache else "false")
                          .replace("{{use_datasource}}", "true" if uri else "false"))
        return ImpulseUnderTest(directory, port, policy=policy, name=name, extra=extra)

    def postfix(port, name, table):
        server = PostfixUnderTest(directory, port, name=name)
        with open(server.etc / "main.cf", "a") as main:
            main.write(f"smtpd_recipient_restrictions = check_recipient_access {table}, reject\n")
        server.postfix("reload")
        return server

    servers = {}
    rows = []
    try:
        servers["impulse-table"] = impulse(2661, "impulse-table", None, False)
        servers["impulse-sqlite"] = impulse(2662, "impulse-sqlite", f"sqlite:{database}", False)
        servers["impulse-sqlite-nocache"] = impulse(2663, "impulse-sqlite-nocache", f"sqlite:{database}", True)
        servers["impulse-pgsql"] = impulse(2664, "impulse-pgsql", pg_uri, False)
        servers["impulse-pgsql-nocache"] = impulse(2665, "impulse-pgsql-nocache", pg_uri, True)
        servers["postfix-sqlite"] = postfix(2666, "postfix-sqlite", f"sqlite:{directory}/sqlite.cf")
        servers["postfix-pgsql"] = postfix(2667, "postfix-pgsql", f"pgsql:{directory}/pgsql.cf")
        for server in servers.values():
            load(server.port, 200, 10, 1024)  # warm up; smtp-source fails if a recipient is refused
        names = list(servers)
        for sessions in [int(s) for s in args.sessions.split(",")]:
            results = alternating_rounds(servers, args.rounds, args.messages, sessions, args.size)
            row = {"sessions": sessions}
            for name in names:
                row[name] = statistics.median(r[0] for r in results[name])
                if results[name][0][2] is not None:
                    row[name + " cpu"] = statistics.median(r[2] for r in results[name])
            for driver in ("sqlite", "pgsql"):
                for variant in ("", "-nocache"):
                    mine = f"impulse-{driver}{variant}"
                    row[f"{mine}/postfix"] = statistics.median(
                        a[0] / b[0] for a, b in zip(results[mine], results[f"postfix-{driver}"]))
            rows.append(row)
            print(f"sessions={sessions} " + " ".join(f"{name}={row[name]:.0f}/s" for name in names), flush=True)
    finally:
        for server in servers.values():
            try:
                server.stop()
            except Exception as error:  # keep cleaning up
                print(f"stop failed: {error}", file=sys.stderr)
        postgres.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print(f"Recipient look-up at RCPT, accepted messages/second, medians of {args.rounds} alternating rounds of "
          f"{args.messages} messages of {args.size} octets (smtp-source, one connection per message, 10,002 "
          "recipients in the table). Look-up CPU = Impulse's CPU per message minus that of the same policy "
          "with an in-memory table.")
    print()
    print("| sessions | database | Impulse cached msg/s | Impulse nocache msg/s | Postfix map msg/s | cached/Postfix "
          "| nocache/Postfix | look-up CPU µs/msg cached | nocache |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        base = row["impulse-table cpu"]
        for driver in ("sqlite", "pgsql"):
            cached, nocache = f"impulse-{driver}", f"impulse-{driver}-nocache"
            print(f"| {row['sessions']} | {driver} | {row[cached]:.0f} | {row[nocache]:.0f} | "
                  f"{row['postfix-' + driver]:.0f} | {row[cached + '/postfix']:.2f}× | {row[nocache + '/postfix']:.2f}× | "
                  f"{row[cached + ' cpu'] - base:.0f} | {row[nocache + ' cpu'] - base:.0f} |")
    print()
    print("| sessions | Impulse with the in-memory table msg/s | its CPU µs/msg |")
    print("|---:|---:|---:|")
    for row in rows:
        print(f"| {row['sessions']} | {row['impulse-table']:.0f} | {row['impulse-table cpu']:.0f} |")


if __name__ == "__main__":
    main()
