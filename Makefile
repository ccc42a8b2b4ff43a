# Convenience targets; each is a script in scripts/ that installs what it needs.
.PHONY: install package package-test run test bench bench-relay bench-queue bench-dkim bench-datasource bench-dns bench-policy build fuzz soak

build:
	swift build -c release --product impulse

run:
	scripts/run.sh

# PREFIX (default /usr/local) and DESTDIR as usual: the binary, /etc/impulse, the systemd unit,
# logrotate, /var/spool/impulse and /var/log/impulse (docs/operations.md).
PREFIX ?= /usr/local
install:
	scripts/install.sh $(PREFIX)

# A Debian package (dpkg-deb) in .build/, and its install-and-start test.
package:
	scripts/package-deb.sh

package-test:
	scripts/package-test.sh

test:
	scripts/test.sh

bench:
	scripts/setup.sh bench
	swift build -c release --product impulse
	python3 scripts/bench.py $(BENCH_ARGS)

# End-to-end relay (smtp-source → server → smtp-sink) against Postfix, and the queue's memory
# with the next hop down.
bench-relay:
	scripts/setup.sh bench
	swift build -c release --product impulse
	python3 scripts/relay_bench.py $(BENCH_ARGS)

# Queue-manager scaling: delivery rate and CPU per message with 10, 1,000 and 10,000 destination
# domains, throttles and a host scope in force.
bench-queue:
	scripts/setup.sh bench
	swift build -c release --product impulse
	python3 scripts/queue_bench.py $(BENCH_ARGS)

# Relay with RSA-2048 DKIM signing of every message against Postfix with OpenDKIM's milter, and
# signing's own CPU and instructions per signature.
bench-dkim:
	scripts/setup.sh bench
	swift build -c release --product impulse
	swift build -c release --product DKIMSignBench
	python3 scripts/dkim_bench.py $(BENCH_ARGS)
	scripts/dkim_sign_bench.sh

# Recipient look-ups at RCPT in SQLite and PostgreSQL (msys.db, cached and not) against Postfix's
# sqlite: and pgsql: maps.
bench-datasource:
	scripts/setup.sh bench
	swift build -c release --product impulse
	python3 scripts/datasource_bench.py $(BENCH_ARGS)

# Every libFuzzer target for FUZZ_SECONDS (default 600) each; crashes fail the target.
fuzz:
	scripts/fuzz.sh $(or $(FUZZ_SECONDS),600)

# 10,000 idle sessions (memory per session), then 20 rounds of kill -9 under load: every
# acknowledged message must reach the capture server; duplicates are reported.
soak:
	scripts/setup.sh test
	swift build -c release --product impulse
	python3 scripts/soak.py $(SOAK_ARGS)

# CPU and instructions per DNS look-up (to the name server, and from the cache).
bench-dns:
	scripts/setup.sh bench
	swift build -c release --product DNSBench
	scripts/dns_bench.sh

# CPU per policy callout and per msg:header / msg:body / msg:text call (1 KiB and 1 MiB), and per
# session of the benchmark policies.
bench-policy:
	scripts/setup.sh bench
	swift build -c release --product PolicyBench
	.build/release/PolicyBench
