"""SMTP AUTH (RFC 4954) end to end: Python's smtplib and swaks as clients, over STARTTLS with a
certificate the test makes; a password file with clear-text and crypt(3)-hashed (openssl passwd
-6, SHA-512) passwords, and a Lua msys.registerAuth scheme. Authenticated clients relay, others
do not; failures are answered as RFC 4954 says, slowed per client and logged without the
password."""
import base64
import smtplib
import subprocess
import time

import pytest

from conftest import BIN, Raw, client_tls_context


def password_file(directory):
    hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "impulsesalt", "hashed-pass"], capture_output=True,
                            text=True, check=True).stdout.strip()
    path = directory / "users"
    path.write_text(f"# Impulse test users\nalice:clear-pass\nbob:{hashed}\n")
    return path


def auth_server(server_factory, certificate, tmp_path, extra="", extra_global=""):
    cert, key = certificate
    users = password_file(tmp_path)
    body = (f'  relay_domains = ( "example.test" )\n  tls_certificate = "{cert}"\n  tls_key = "{key}"\n'
            f'  smtp_extensions = ( "ENHANCEDSTATUSCODES" "STARTTLS" "AUTH PLAIN" "AUTH LOGIN" "AUTH CRAM-MD5" )\n'
            f'  AuthPlainParameters = [ uri = "file://{users}" ]\n'
            f'  AuthLoginParameters = [ uri = "file://{users}" ]\n'
            f'  AuthCramMD5Parameters = [ uri = "file://{users}" log_authentication = "true" ]\n{extra}')
    return server_factory(body, global_options=extra_global)


def tls_client(server):
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
    client.ehlo("client.test")
    client.starttls(context=client_tls_context())
    client.ehlo("client.test")
    return client


def test_mechanisms_are_offered_under_tls_and_each_one_works(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as plain:
        plain.ehlo("client.test")
        assert plain.esmtp_features["auth"].split() == ["CRAM-MD5"], "no password in clear text before TLS"
        code, text = plain.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0clear-pass").decode())
        assert (code, text) == (538, b"5.7.11 Encryption required for requested authentication mechanism")
    for mechanism, user, password in [("PLAIN", "alice", "clear-pass"), ("LOGIN", "alice", "clear-pass"),
                                      ("CRAM-MD5", "alice", "clear-pass"), ("PLAIN", "bob", "hashed-pass"),
                                      ("LOGIN", "bob", "hashed-pass")]:
        with tls_client(server) as client:
            assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "CRAM-MD5"]
            client.user, client.password = user, password
            authenticator = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login,
                             "CRAM-MD5": client.auth_cram_md5}[mechanism]
            assert client.auth(mechanism, authenticator) == (235, b"2.7.0 Authentication successful"), mechanism
    log = server.log.read_text()
    assert "auth: authenticated" in log and "mechanism=CRAM-MD5" in log, "log_authentication logs successes"


def test_authenticated_clients_relay_and_others_do_not(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path).start()
    with tls_client(server) as client:
        client.mail("alice@sender.test")
        assert client.rcpt("someone@elsewhere.test")[0] == 550
        client.rset()
        client.login("bob", "hashed-pass")
        client.sendmail("bob@sender.test", ["someone@elsewhere.test"], b"Subject: relayed\r\n\r\nHi.\r\n")
    assert len(server.spooled_ids()) == 1


def test_failures_are_answered_slowed_and_logged_without_the_password(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path).start()
    with tls_client(server) as client:
        client.user, client.password = "alice", "not-the-password"
        with pytest.raises(smtplib.SMTPAuthenticationError) as first:
            client.auth("PLAIN", client.auth_plain)
        assert first.value.smtp_code == 535 and first.value.smtp_error == b"5.7.8 Authentication credentials invalid"
        started = time.monotonic()
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0nobody\0guess-2").decode())
        assert code == 535 and time.monotonic() - started >= 0.9, "the second failure from this address waits"
        code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0nobody\0guess-3").decode())
        assert code == 421, "the third failure ends the session"
    log = server.log.read_text()
    assert "auth: authentication failed" in log and "user=alice" in log and "user=nobody" in log
    assert "not-the-password" not in log and "guess-2" not in log
    # The address is still slowed in a new session.
    with tls_client(server) as client:
        started = time.monotonic()
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0wrong").decode())
        assert code == 535 and time.monotonic() - started >= 2.5


def test_exchange_errors_and_sequence(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path).start()
    with tls_client(server) as client:
        assert client.docmd("AUTH", "DIGEST-MD5")[0] == 504
        assert client.docmd("AUTH", "PLAIN") == (334, b"")
        assert client.docmd("*")[0] == 501
        assert client.docmd("AUTH", "PLAIN") == (334, b"")
        assert client.docmd("!!!notbase64")[0] == 501
        client.mail("alice@sender.test")
        assert client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0clear-pass").decode())[0] == 503
        client.rset()
        assert client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0clear-pass").decode())[0] == 235
        assert client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0clear-pass").decode())[0] == 503
        assert client.docmd("MAIL", "FROM:<alice@sender.test> AUTH=alice@sender.test")[0] == 250


def test_swaks_authenticates_over_starttls(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path).start()
    result = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port}", "--tls", "--auth", "LOGIN",
                             "--auth-user", "bob", "--auth-password", "hashed-pass", "--from", "bob@sender.test",
                             "--to", "friend@elsewhere.test", "--helo", "client.test"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0 Authentication successful" in result.stdout


def test_enable_authentication_requires_it_before_mail(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path, extra="  enable_authentication = true\n").start()
    with tls_client(server) as client:
        assert client.mail("alice@sender.test") == (530, b"5.7.0 Authentication required")
        client.login("alice", "clear-pass")
        assert client.mail("alice@sender.test")[0] == 250


SCHEME = """
local scheme = {}
function scheme:authenticate(path, params, user, password)
  if params.realm ~= "test-realm" or path ~= "accounts" then return msys.core.EC_AUTH_ERROR end
  msys.sleep(0.05)  -- a back-end may wait
  if user == "lua-user" and password == "lua-pass" then return msys.core.EC_AUTH_OK end
  return msys.core.EC_AUTH_FAIL
end
msys.registerAuth("luaauth", scheme)
local mod = {}
function mod:validate_data_spool(msg, ac, vctx)
  msg:header("X-Auth", (vctx:get(msys.core.VCTX_CONN, "auth_user") or "none") .. "/" ..
    (vctx:get(msys.core.VCTX_CONN, "auth_name") or "") .. "/" .. (vctx:get(msys.core.VCTX_CONN, "auth_status") or ""))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("authcheck", mod)
"""


def test_a_lua_scheme_decides_and_the_context_says_who(server_factory, certificate, tmp_path):
    cert, key = certificate
    (tmp_path / "authcheck.lua").write_text(SCHEME)
    server = server_factory(
        f'  relay_domains = ( "example.test" )\n  tls_certificate = "{cert}"\n  tls_key = "{key}"\n'
        '  smtp_extensions = ( "AUTH PLAIN" )\n'
        '  AuthPlainParameters = [ uri = "luaauth://accounts" realm = "test-realm" ]\n',
        extra=f'alerting {{}}\nscriptlet "scriptlet" {{ script "authcheck" {{ source = "{tmp_path}/authcheck" }} }}\n')
    server.start()
    with tls_client(server) as client:
        client.user, client.password = "lua-user", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth("PLAIN", client.auth_plain)
        client.login("lua-user", "lua-pass")
        client.sendmail("lua-user@sender.test", ["friend@elsewhere.test"], b"Subject: s\r\n\r\nbody\r\n")
    (envelope, body), = server.records().values()
    assert b"X-Auth: lua-user/PLAIN/pass\r\n" in body
    assert b"with ESMTPSA id " in body, "RFC 3848: TLS and authenticated"


def test_configuration_mistakes_name_their_place(server_factory, certificate, tmp_path):
    cert, key = certificate
    missing = server_factory('  smtp_extensions = ( "AUTH PLAIN" )\n')
    result = subprocess.run([BIN, "check-config", "--config", str(missing.config)], capture_output=True, text=True)
    assert result.returncode != 0 and "'AUTH PLAIN' is in smtp_extensions but AuthPlainParameters" in result.stderr
    (tmp_path / "broken").write_text("alice:one\nno-colon-here\nalice:two\n")
    broken = server_factory(f'  smtp_extensions = ( "AUTH PLAIN" )\n  AuthPlainParameters = [ uri = "file://{tmp_path}/broken" ]\n')
    result = subprocess.run([BIN, "check-config", "--config", str(broken.config)], capture_output=True, text=True)
    assert f"{tmp_path}/broken:2:1: error: expected user:password" in result.stderr, result.stderr
    assert f"{tmp_path}/broken:3:1: error: user 'alice' is listed twice" in result.stderr
    digest = server_factory('  smtp_extensions = ( "AUTH DIGEST-MD5" )\n')
    result = subprocess.run([BIN, "check-config", "--config", str(digest.config)], capture_output=True, text=True)
    assert result.returncode != 0 and "DIGEST-MD5 is obsolete" in result.stderr


def test_config_reload_reads_the_password_file_again(server_factory, certificate, tmp_path):
    server = auth_server(server_factory, certificate, tmp_path)
    server.config.write_text(server.config.read_text() + 'Control_Listener { Listen "ctl.sock" { } }\n')
    server.start()
    users = tmp_path / "users"
    users.write_text(users.read_text() + "carol:new-pass\n")
    with tls_client(server) as client:
        client.user, client.password = "carol", "new-pass"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth("PLAIN", client.auth_plain)
    reload = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), "config", "reload"],
                            capture_output=True, text=True, timeout=30)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    with tls_client(server) as client:
        client.user, client.password = "carol", "new-pass"
        assert client.auth("PLAIN", client.auth_plain)[0] == 235


def test_outbound_auth_to_a_smart_host(server_factory, certificate, tmp_path):
    """Impulse relays through another Impulse that requires AUTH: outbound_smtp_auth over TLS."""
    from test_delivery import deliver_config, mainlog, send, wait_until
    smart_host = auth_server(server_factory, certificate, tmp_path,
                             extra="  enable_authentication = true\n").start()

    def relay(password):
        config = deliver_config(
            "127.0.0.1@1",
            f'domain "far.test" {{ gateway = "127.0.0.1:{smart_host.port}" tls = required\n'
            f'  ehlo_hostname = "relay.impulse.test"  outbound_smtp_auth_user = "bob" outbound_smtp_auth_pass = "{password}" '
            f'outbound_smtp_auth_type = "LOGIN" }}',
            relay=("far.test",))
        return server_factory(**config).start()

    good = relay("hashed-pass")
    send(good.port, ["someone@far.test"])
    wait_until(lambda: len(smart_host.spooled_ids()) == 1, what="the smart host took the message")
    (envelope, body), = smart_host.records().values()
    assert b"with ESMTPSA id" in body
    wait_until(lambda: mainlog(good, "D"), what="a D line")

    bad = relay("wrong-pass")
    send(bad.port, ["other@far.test"])
    transient = wait_until(lambda: mainlog(bad, "T"), what="a T line")
    assert "AUTH to the next hop failed: 535 5.7.8" in transient[0][13], transient
    for node in (good, bad):
        assert "hashed-pass" not in node.log.read_text() and "wrong-pass" not in node.log.read_text()
        assert "hashed-pass" not in (node.directory / "mainlog.ec").read_text()


def test_ecauth_checks_credentials_in_a_datasource(server_factory, certificate, tmp_path):
    """ecauth:// (Momentum's auth_ds) on a real SQLite file: the stored password (clear or crypt(3))
    is compared, or the query compares it itself when it names :password."""
    import sqlite3
    hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "dbsalt", "db-hashed"], capture_output=True,
                            text=True, check=True).stdout.strip()
    database = tmp_path / "users.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE users (name TEXT PRIMARY KEY, password TEXT, active INTEGER)")
        db.executemany("INSERT INTO users VALUES (?, ?, ?)",
                       [("carol", "db-clear", 1), ("dave", hashed, 1), ("erin", "db-clear", 0)])
    cert, key = certificate
    body = (f'  relay_domains = ( "example.test" )\n  tls_certificate = "{cert}"\n  tls_key = "{key}"\n'
            f'  smtp_extensions = ( "ENHANCEDSTATUSCODES" "STARTTLS" "AUTH PLAIN" "AUTH LOGIN" "AUTH CRAM-MD5" )\n'
            '  AuthPlainParameters = [ uri = "ecauth://users"\n'
            '    query = "SELECT password FROM users WHERE name = :username AND active = 1" ]\n'
            '  AuthLoginParameters = [ uri = "ecauth://users"\n'
            '    query = "SELECT 1 FROM users WHERE name = :username AND password = :password AND active = 1" ]\n'
            '  AuthCramMD5Parameters = [ uri = "ecauth://users"\n'
            '    query = "SELECT password FROM users WHERE name = :username AND active = 1" ]\n')
    server = server_factory(body, extra=f'Datasource "users" {{\n  uri = ( "sqlite:{database}" )\n}}\n').start()

    def attempt(mechanism, user, password):
        with tls_client(server) as client:
            client.user, client.password = user, password
            authenticator = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login,
                             "CRAM-MD5": client.auth_cram_md5}[mechanism]
            try:
                code, _ = client.auth(mechanism, authenticator)
            except smtplib.SMTPAuthenticationError as error:
                code = error.smtp_code
            if code == 235:
                # Authenticated: may relay.
                assert client.sendmail("a@sender.test", ["x@elsewhere.test"], b"Subject: t\r\n\r\nb\r\n") == {}
            return code

    assert attempt("PLAIN", "carol", "db-clear") == 235
    assert attempt("PLAIN", "dave", "db-hashed") == 235
    assert attempt("LOGIN", "carol", "db-clear") == 235
    assert attempt("CRAM-MD5", "carol", "db-clear") == 235
    assert attempt("PLAIN", "carol", "wrong") == 535
    assert attempt("LOGIN", "carol", "wrong") == 535
    assert attempt("PLAIN", "erin", "db-clear") == 535  # inactive: no row
    assert attempt("PLAIN", "nobody", "x") == 535
    assert attempt("CRAM-MD5", "dave", "db-hashed") == 534  # only a hash is stored: too weak (RFC 4954 §6)
    assert "db-hashed" not in server.log.read_text() and "db-clear" not in server.log.read_text()


def test_ecauth_configuration_errors(tmp_path):
    config = tmp_path / "ecelerity.conf"

    def check(parameters, datasource=True):
        config.write_text('spoolbase = "spool"\nESMTP_Listener {\n  smtp_extensions = ( "AUTH PLAIN" )\n'
                          f'  AuthPlainParameters = [ {parameters} ]\n  Listen "127.0.0.1:0" {{ }}\n}}\n'
                          + ('Datasource "users" { uri = ( "sqlite:/tmp/x.db" ) }\n' if datasource else ""))
        result = subprocess.run([BIN, "check-config", "--config", str(config)], capture_output=True, text=True)
        return result.returncode, result.stdout + result.stderr

    code, out = check('uri = "ecauth://users"')
    assert code == 2 and "ecauth:// needs query" in out
    code, out = check('uri = "ecauth://" query = "SELECT 1 WHERE :username"')
    assert code == 2 and "ecauth://DATASOURCE names a Datasource scope" in out
    code, out = check('uri = "ecauth://other" query = "SELECT password FROM u WHERE n = :username"')
    assert code == 2 and 'ecelerity.conf:4:3: error: ecauth://other: there is no Datasource "other" scope' in out
    code, out = check('uri = "ecauth://users" query = "SELECT password FROM u WHERE n = :username"')
    assert code == 0, out
