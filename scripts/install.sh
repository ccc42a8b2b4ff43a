#!/usr/bin/env bash
# Installs Impulse: the binary (Swift's runtime linked in, so only Debian's libraries are needed
# at run time), the configuration (kept when one is there), the systemd unit, the logrotate file,
# the spool and log directories, and the documentation.
# Usage: scripts/install.sh [PREFIX] ; DESTDIR stages into a directory (packages do).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-${PREFIX:-/usr/local}}
dest=${DESTDIR:-}
export PATH="/opt/swift/usr/bin:$PATH"
if [[ -z ${IMPULSE_SKIP_BUILD:-} ]]; then
  scripts/setup.sh run
  swift build -c release --product impulse --static-swift-stdlib
fi
binary=.build/release/impulse

install -d -m 0755 "$dest$prefix/sbin" "$dest/etc/impulse" "$dest/lib/systemd/system" "$dest/etc/logrotate.d" \
  "$dest$prefix/share/doc/impulse" "$dest$prefix/share/doc/impulse/examples"
install -m 0755 "$binary" "$dest$prefix/sbin/impulse"
if [[ ! -e $dest/etc/impulse/ecelerity.conf ]]; then
  install -m 0640 packaging/ecelerity.conf "$dest/etc/impulse/ecelerity.conf"
fi
sed "s#/usr/sbin/impulse#$prefix/sbin/impulse#g" packaging/impulse.service > "$dest/lib/systemd/system/impulse.service"
chmod 0644 "$dest/lib/systemd/system/impulse.service"
sed "s#/usr/sbin/impulse#$prefix/sbin/impulse#g" packaging/impulse.logrotate > "$dest/etc/logrotate.d/impulse"
chmod 0644 "$dest/etc/logrotate.d/impulse"
install -d -m 0750 "$dest/var/spool/impulse" "$dest/var/log/impulse"
cp -r docs/. "$dest$prefix/share/doc/impulse/"
cp -r examples/policies examples/ecelerity.conf "$dest$prefix/share/doc/impulse/examples/"
install -m 0644 README.md "$dest$prefix/share/doc/impulse/README.md"
# Outside a package the account and ownership are set here (a package's postinst does it).
if [[ -z $dest && $(id -u) -eq 0 ]]; then
  id impulse >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin impulse
  chown impulse:impulse /var/spool/impulse /var/log/impulse
  chgrp impulse /etc/impulse/ecelerity.conf
  command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]] && systemctl daemon-reload || true
fi
echo "install: impulse in $dest$prefix/sbin, configuration in $dest/etc/impulse"
