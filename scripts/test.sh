#!/usr/bin/env bash
# Runs every test: unit and codec tests (swift test), then end-to-end tests that start the real
# impulse binary and drive it with real clients (Python smtplib, swaks, smtp-source, openssl).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="/opt/swift/usr/bin:$PATH"
# Style: the checked-in .swift-format (120 columns) is kept by the tool that ships with Swift.
swift format lint --strict -r --configuration .swift-format Sources Tests Fuzz Benchmarks Package.swift
swift build --build-tests
swift test --skip-build --disable-swift-testing
# Every libFuzzer target builds and runs a few seconds on its seed corpus (long runs: make fuzz).
scripts/fuzz.sh "${IMPULSE_FUZZ_SECONDS:-5}"
IMPULSE_BIN="$PWD/.build/debug/impulse" python3 -m pytest -q tests/e2e "$@"
# On CI's throw-away machines: build the Debian package, install it, start it, talk to it, purge
# it (scripts/package-test.sh changes the machine; elsewhere run it with make package-test).
if [[ ${CI:-} == true && $(id -u) -eq 0 ]]; then
  deb=$(scripts/package-deb.sh | tail -1)
  scripts/package-test.sh "$deb"
fi
