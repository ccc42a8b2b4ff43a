#!/usr/bin/env bash
# Installs what building and testing Impulse needs on a Debian machine, skipping what is there.
# Usage: scripts/setup.sh [run|test|bench]   (run: the build libraries only; test and bench: also
# the test clients, Postfix's tools, the DNS server and pytest)
set -euo pipefail
what=${1:-test}

if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [[ -x $candidate/swift ]] && export PATH="$candidate:$PATH"
  done
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "setup: no Swift toolchain found (Swift 6 is needed; see https://www.swift.org/install/linux/)" >&2
  exit 1
fi

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
apt_updated=0
need() {  # need PACKAGE [COMMAND-OR-FILE-THAT-PROVES-IT]
  local package=$1 probe=${2:-}
  if [[ -n $probe ]]; then
    if [[ $probe == /* ]]; then [[ -e $probe ]] && return 0; else command -v "$probe" >/dev/null 2>&1 && return 0; fi
  elif dpkg -s "$package" >/dev/null 2>&1; then
    return 0
  fi
  if [[ $apt_updated -eq 0 ]]; then "${sudo_cmd[@]}" apt-get update -qq; apt_updated=1; fi
  echo "setup: installing $package" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$package" >/dev/null
}

# LuaJIT (the scriptlet engine's VM) and pkg-config, which SwiftPM uses to find it.
need pkgconf pkg-config
need libluajit-5.1-dev /usr/include/luajit-2.1/lua.h
# libunbound: the DNS resolver library; PCRE2 for msys.pcre.
need libunbound-dev /usr/include/unbound.h
# libevent: the event base libunbound resolves on (ub_resolve_event), on the resolver thread.
need libevent-dev /usr/include/event2/event.h
need libpcre2-dev /usr/include/pcre2.h
# libidn2 for msys.idn; lua-cjson (loaded at run time) for the json package.
need libidn2-dev /usr/include/idn2.h
need lua-cjson
# libedit: line editing and history in `impulse console`.
need libedit-dev /usr/include/editline/readline.h
# hiredis: the Redis client of cluster-wide throttles.
need libhiredis-dev /usr/include/hiredis/hiredis.h
# libcrypt (libxcrypt): crypt(3)-hashed passwords in SMTP AUTH password files.
need libcrypt-dev /usr/include/crypt.h
# zlib: the CRC-32 over each spool record.
need zlib1g-dev /usr/include/zlib.h
# libopendkim: DKIM signing and verification; libspf2: SPF checks; libopendmarc and the public
# suffix list: DMARC policy evaluation and organizational domains.
need libopendkim-dev /usr/include/opendkim/dkim.h
need libspf2-dev /usr/include/spf2/spf.h
need libopendmarc-dev /usr/include/opendmarc/dmarc.h
# OpenSSL's libcrypto: DKIM and ARC signatures with keys decoded once, ARC's RSA checks.
need libssl-dev /usr/include/openssl/evp.h
# msys.db's datasource drivers: SQLite, PostgreSQL's libpq, MariaDB Connector/C (MySQL too).
need libsqlite3-dev /usr/include/sqlite3.h
need libpq-dev /usr/include/postgresql/libpq-fe.h
need libmariadb-dev /usr/include/mariadb/mysql.h
need publicsuffix /usr/share/publicsuffix/public_suffix_list.dat

if [[ $what == bench ]]; then
  # OpenDKIM's milter: what Postfix signs with in the DKIM benchmark.
  need opendkim /usr/sbin/opendkim
  # Postfix's sqlite: and pgsql: tables, for the datasource benchmark.
  need postfix-sqlite /usr/lib/postfix/postfix-sqlite.so
  need postfix-pgsql /usr/lib/postfix/postfix-pgsql.so
fi

if [[ $what == test || $what == bench ]]; then
  if [[ ! -x /usr/sbin/smtp-source ]]; then
    # Postfix brings smtp-source and smtp-sink; "No configuration" keeps it from touching the system.
    echo "postfix postfix/main_mailer_type select No configuration" | "${sudo_cmd[@]}" debconf-set-selections
    need postfix smtp-source
  fi
  need swaks swaks
  need dnsmasq-base /usr/sbin/dnsmasq
  need openssl openssl
  # strace: a test checks the order of the system calls that create the console socket.
  need strace strace
  # Real database servers the datasource tests start on loopback in a temporary directory.
  need postgresql
  need mariadb-server /usr/sbin/mariadbd
  # Redis: the store cluster-wide throttles share, started by the tests on loopback.
  need redis-server /usr/bin/redis-server
  # A DNSSEC-signed zone for the DANE test: ldns signs it, NSD serves it on loopback.
  need ldnsutils /usr/bin/ldns-signzone
  need nsd /usr/sbin/nsd
  # Dovecot's LMTP server: the independent LMTP implementation delivery is checked against.
  need dovecot-lmtpd /usr/lib/dovecot/lmtp
  # The unprivileged account a server started as root becomes (`user = "impulse"`): the
  # privilege tests run as it, as an installed Impulse does.
  if ! id impulse >/dev/null 2>&1; then
    echo "setup: adding the system user impulse" >&2
    "${sudo_cmd[@]}" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin impulse
  fi
  # logrotate: the package test rotates the installed server's logs (and has it reopen them).
  need logrotate /usr/sbin/logrotate
  # HAProxy: the load balancer whose PROXY protocol headers (v1 and v2) listeners are checked with.
  need haproxy /usr/sbin/haproxy
  need python3 python3
  if ! python3 -c 'import pytest' >/dev/null 2>&1; then
    need python3-pytest /usr/lib/python3/dist-packages/pytest
    python3 -c 'import pytest' >/dev/null 2>&1 || python3 -m pip install -q pytest
  fi
  # dkimpy (with PyNaCl for Ed25519): the independent DKIM implementation the tests check against.
  if ! python3 -c 'import dkim, nacl' >/dev/null 2>&1; then
    need python3-dkim /usr/lib/python3/dist-packages/dkim/__init__.py
    need python3-nacl /usr/lib/python3/dist-packages/nacl/__init__.py
    python3 -c 'import dkim, nacl' >/dev/null 2>&1 || python3 -m pip install -q dkimpy pynacl
  fi
  # authres: what dkimpy's ARC sealing reads Authentication-Results with.
  if ! python3 -c 'import authres' >/dev/null 2>&1; then
    need python3-authres /usr/lib/python3/dist-packages/authres/__init__.py
    python3 -c 'import authres' >/dev/null 2>&1 || python3 -m pip install -q authres
  fi
  # openapi-spec-validator and jsonschema: docs/http-api.yaml is checked, and the API's answers
  # are checked against it.
  if ! python3 -c 'import openapi_spec_validator, jsonschema, yaml' >/dev/null 2>&1; then
    need python3-yaml /usr/lib/python3/dist-packages/yaml/__init__.py
    need python3-jsonschema /usr/lib/python3/dist-packages/jsonschema/__init__.py
    python3 -c 'import openapi_spec_validator, jsonschema, yaml' >/dev/null 2>&1 \
      || python3 -m pip install -q openapi-spec-validator jsonschema pyyaml
  fi
  # pyspf: the independent SPF implementation the tests check against.
  if ! python3 -c 'import spf' >/dev/null 2>&1; then
    need python3-spf /usr/lib/python3/dist-packages/spf.py
    python3 -c 'import spf' >/dev/null 2>&1 || python3 -m pip install -q pyspf dnspython
  fi
fi
