#!/usr/bin/env bash
# Builds a Debian package of Impulse with dpkg-deb: the files scripts/install.sh puts in place
# (PREFIX /usr), the shared libraries it needs as dependencies (found with ldd and dpkg -S), and
# maintainer scripts that add the impulse account, own its directories and start the service
# where systemd runs. Output: .build/impulse_<version>_<arch>.deb (its path is printed last).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh run
swift build -c release --product impulse --static-swift-stdlib

stage=.build/package/root
rm -rf .build/package
mkdir -p "$stage/DEBIAN"
DESTDIR="$PWD/$stage" IMPULSE_SKIP_BUILD=1 scripts/install.sh /usr >/dev/null
# Debugging symbols stay in the build tree; the package carries the stripped binary.
strip --strip-unneeded "$stage/usr/sbin/impulse"

commit_time=$(git log -1 --format=%ct 2>/dev/null || date +%s)
hash=$(git rev-parse --short HEAD 2>/dev/null || echo local)
version="0.1.0+git$(date -u -d "@$commit_time" +%Y%m%d%H%M).$hash"
arch=$(dpkg --print-architecture)

# Dependencies: the package of every shared library the binary loads.
depends=$(ldd "$stage/usr/sbin/impulse" | awk '/=> \// { print $3 }' | while read -r library; do
  real=$(readlink -f "$library")
  dpkg -S "$library" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true
done | cut -d: -f1 | sed 's/:.*//' | sort -u | grep -v '^$' | paste -sd, | sed 's/,/, /g')
if ldd "$stage/usr/sbin/impulse" | grep -q "not found"; then
  echo "package: a shared library the binary needs is missing:" >&2
  ldd "$stage/usr/sbin/impulse" | grep "not found" >&2
  exit 1
fi
if ldd "$stage/usr/sbin/impulse" | grep -q "libswift\|/opt/swift"; then
  echo "package: the binary still loads Swift's runtime from the toolchain" >&2
  exit 1
fi

installed_size=$(du -sk "$stage" | cut -f1)
# No "Provides: mail-transport-agent": Debian's MTAs conflict with that virtual package, so
# installing Impulse would remove Postfix or Exim, and Impulse has no /usr/sbin/sendmail for the
# packages that depend on an MTA.
cat > "$stage/DEBIAN/control" <<CONTROL
Package: impulse
Version: $version
Architecture: $arch
Maintainer: Impulse developers <impulse@localhost>
Installed-Size: $installed_size
Depends: $depends, passwd
Recommends: lua-cjson
Section: mail
Priority: optional
Description: Mail transfer agent running Momentum (ecelerity) Lua policies
 Impulse reads Momentum's ecelerity.conf syntax and runs its Lua scriptlets
 unchanged: inbound SMTP with AUTH and TLS, a durable spool, outbound delivery
 with traffic shaping, DKIM, SPF and DMARC, and a control console.
CONTROL
printf '/etc/impulse/ecelerity.conf\n/etc/logrotate.d/impulse\n' > "$stage/DEBIAN/conffiles"

cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! id impulse >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin impulse
  fi
  chown impulse:impulse /var/spool/impulse /var/log/impulse
  chmod 0750 /var/spool/impulse /var/log/impulse
  chgrp impulse /etc/impulse/ecelerity.conf
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable impulse.service >/dev/null 2>&1 || true
    systemctl restart impulse.service || echo "impulse: the service did not start; see journalctl -u impulse" >&2
  fi
fi
exit 0
POSTINST
cat > "$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop impulse.service || true
  systemctl disable impulse.service >/dev/null 2>&1 || true
fi
exit 0
PRERM
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  # The logs go; the spool stays when it holds mail, and the account stays (Debian's practice).
  rm -rf /var/log/impulse
  find /var/spool/impulse -type d -empty -delete 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

output=".build/impulse_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$output" >/dev/null
echo "$output"
