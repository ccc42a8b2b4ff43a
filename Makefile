# Convenience targets; each is a script in scripts/ that installs what it needs.
.PHONY: run test bench build

build:
	swift build -c release --product impulse

run:
	scripts/run.sh

test:
	scripts/test.sh

bench:
	scripts/setup.sh bench
	swift build -c release --product impulse
	python3 scripts/bench.py $(BENCH_ARGS)
