#!/usr/bin/env bash
# Installs the package scripts/package-deb.sh built, checks what it put where, starts the service
# (systemctl where systemd runs, the unit's ExecStart by hand elsewhere), talks SMTP and console to
# it, rotates its logs, and purges it again. It changes the machine (an account, /etc/impulse, a
# server on 127.0.0.1:25): meant for CI's throw-away machines. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(ls -t .build/impulse_*.deb 2>/dev/null | head -1)}
[[ -n $deb && -f $deb ]] || { echo "package-test: no package (make package)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "package-test: needs root" >&2; exit 1; }
fail() { echo "package-test: $*" >&2; exit 1; }

started_by_hand=""
cleanup() {
  if [[ -n $started_by_hand ]]; then kill "$started_by_hand" 2>/dev/null || true; wait "$started_by_hand" 2>/dev/null || true; fi
  if dpkg -s impulse >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive dpkg --purge impulse >/dev/null || true; fi
  rm -rf /var/spool/impulse
}
trap cleanup EXIT

mtas_before=$(dpkg-query -W -f '${Package} ${Status}\n' postfix exim4-daemon-light exim4-daemon-heavy 2>/dev/null \
  | grep -c " installed$" || true)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
mtas_after=$(dpkg-query -W -f '${Package} ${Status}\n' postfix exim4-daemon-light exim4-daemon-heavy 2>/dev/null \
  | grep -c " installed$" || true)
[[ $mtas_before == "$mtas_after" ]] || fail "installing the package removed another MTA"
for path in /usr/sbin/impulse /lib/systemd/system/impulse.service /etc/logrotate.d/impulse \
  /etc/impulse/ecelerity.conf /usr/share/doc/impulse/operations.md; do
  dpkg -L impulse | grep -qx "$path" || fail "$path is not in the package"
done
id impulse >/dev/null || fail "no impulse account"
[[ $(stat -c %U /var/spool/impulse) == impulse && $(stat -c %U /var/log/impulse) == impulse ]] \
  || fail "the spool and log directories are not the impulse user's"
ldd /usr/sbin/impulse | grep -q "not found" && fail "a library the binary needs is not installed"
/usr/sbin/impulse check-config --config /etc/impulse/ecelerity.conf || fail "the installed configuration does not load"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /lib/systemd/system/impulse.service 2>&1 | grep -v "^$" | grep -iv "bus\|Failed to connect\|offline" \
    | grep . && fail "systemd-analyze finds fault with the unit" || true
fi
command -v logrotate >/dev/null 2>&1 && { logrotate -d /etc/logrotate.d/impulse >/dev/null 2>&1 || fail "logrotate cannot read its file"; }

if [[ -d /run/systemd/system ]]; then
  systemctl is-active --quiet impulse || systemctl start impulse
  how="systemd"
else
  # No systemd here: what the unit's ExecStart does, with the directory systemd would make.
  install -d -m 0755 /run/impulse
  /usr/sbin/impulse serve --config /etc/impulse/ecelerity.conf --log-level notice > /var/log/impulse/stderr.log 2>&1 &
  started_by_hand=$!
  how="by hand"
fi
for _ in $(seq 1 100); do
  python3 - <<'PY' 2>/dev/null && break
import smtplib
smtplib.SMTP("127.0.0.1", 25, timeout=2).quit()
PY
  sleep 0.2
done
python3 - <<'PY' || fail "SMTP on 127.0.0.1:25 does not work"
import smtplib
with smtplib.SMTP("127.0.0.1", 25, timeout=10) as client:
    client.sendmail("root@localhost", ["postmaster"], b"Subject: package test\r\n\r\nInstalled and running.\r\n")
PY
user=$(ps -o user= -C impulse | sort -u | head -1)
[[ $user == impulse ]] || fail "the server runs as '$user', not impulse"
/usr/sbin/impulse console summary | grep -q "Summary Statistics" || fail "the console does not answer on /run/impulse/ctl.sock"
if command -v logrotate >/dev/null 2>&1; then
  logrotate -f /etc/logrotate.d/impulse
  [[ -e /var/log/impulse/mainlog.ec.1 || -e /var/log/impulse/mainlog.ec.1.gz ]] || fail "logrotate did not rotate the mainlog"
fi
echo "package-test: $deb installed, started ($how), answered SMTP and the console as user impulse, rotated its logs"
