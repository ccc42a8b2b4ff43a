#!/usr/bin/env bash
# CPU per DNS look-up through Impulse's resolver: dnsmasq on a loopback port answers every name
# under wild.itest (TTL 300); DNSBench asks 20,000 distinct names (each goes to the name server)
# and one name 200,000 times (cache hits), three rounds each, then counts instructions per
# look-up under callgrind when valgrind is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=.build/release/DNSBench
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address=127.0.0.1 --port="$port" --user=root --pid-file="$work/pid" \
  --address=/wild.itest/192.0.2.20 --local-ttl=300 --cache-size=0 --log-facility=/dev/null &
dnsmasq=$!
trap 'kill $dnsmasq 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5
for round in 1 2 3; do
  "$bench" "127.0.0.1@$port" miss 20000
  "$bench" "127.0.0.1@$port" hit 200000
done
if command -v valgrind >/dev/null; then
  # Valgrind cannot read Swift's release debug information: count on a stripped copy.
  strip -o "$work/DNSBench" "$bench"
  count() { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$work/DNSBench" "127.0.0.1@$port" "$1" "$2" 2>&1 | awk '/refs:/ { gsub(",", "", $NF); print $NF }'; }
  for mode in miss hit; do
    n=$([[ $mode == miss ]] && echo 4000 || echo 40000)
    base=$(count $mode 0); total=$(count $mode $n)
    echo "$mode: $(( (total - base) / n )) instructions per look-up (callgrind, $n look-ups)"
  done
fi
