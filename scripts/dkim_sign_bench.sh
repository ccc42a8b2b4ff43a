#!/usr/bin/env bash
# CPU per DKIM signature through Impulse's signer (a 1 KiB message, relaxed/relaxed, the key
# decoded once): RSA-2048 and Ed25519, three rounds each, then instructions per signature under
# callgrind when valgrind is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=.build/release/DKIMSignBench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl genrsa -out "$work/rsa.pem" 2048 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/ed.pem"
for round in 1 2 3; do
  "$bench" "$work/rsa.pem" 2000 rsa-sha256
  "$bench" "$work/ed.pem" 5000 ed25519-sha256
done
if command -v valgrind >/dev/null; then
  # Valgrind cannot read Swift's release debug information: count on a stripped copy.
  strip -o "$work/DKIMSignBench" "$bench"
  count() { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$work/DKIMSignBench" "$1" "$2" "$3" 2>&1 | awk '/refs:/ { gsub(",", "", $NF); print $NF }'; }
  for algorithm in rsa-sha256 ed25519-sha256; do
    key=$([[ $algorithm == rsa-sha256 ]] && echo "$work/rsa.pem" || echo "$work/ed.pem")
    base=$(count "$key" 0 $algorithm); total=$(count "$key" 200 $algorithm)
    echo "$algorithm: $(( (total - base) / 200 )) instructions per signature (callgrind, 200 signatures)"
  done
fi
