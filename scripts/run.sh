#!/usr/bin/env bash
# Builds Impulse and runs it in the foreground on the bundled example configuration:
# SMTP on 127.0.0.1:2525, spool under examples/spool, relaying for localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product impulse
# The example configuration sets no `user`: as root it runs only when told to (a production
# configuration sets user and group; docs/operations.md).
flags=()
if [ "$(id -u)" = 0 ]; then
  echo "run.sh: running the example as root (--allow-root); production sets user and group" >&2
  flags=(--allow-root)
fi
exec .build/release/impulse serve --config examples/ecelerity.conf "${flags[@]}" "$@"
