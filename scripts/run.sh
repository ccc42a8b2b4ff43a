#!/usr/bin/env bash
# Builds Impulse and runs it in the foreground on the bundled example configuration:
# SMTP on 127.0.0.1:2525, spool under examples/spool, relaying for localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product impulse
exec .build/release/impulse serve --config examples/ecelerity.conf "$@"
