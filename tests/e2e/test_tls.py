"""STARTTLS and implicit TLS with a certificate the test makes, and STARTTLS command injection."""
import smtplib
import socket
import ssl
import subprocess
import time

from conftest import Raw, client_tls_context


def tls_server(server_factory, certificate, extra="", **kwargs):
    cert, key = certificate
    return server_factory(f'  relay_domains = ( "example.test" )\n  tls_certificate = "{cert}"\n  tls_key = "{key}"\n{extra}',
                          **kwargs).start()


def test_starttls_with_smtplib(server_factory, certificate):
    server = tls_server(server_factory, certificate)
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo("c.test")
        assert client.has_extn("starttls")
        assert client.starttls(context=client_tls_context())[0] == 220
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.ehlo("c.test")
        assert not client.has_extn("starttls")
        client.sendmail("a@b.test", ["x@example.test"], b"Subject: tls\r\n\r\nsecret\r\n")
    (envelope, data), = server.records().values()
    assert envelope["protocol"] == "ESMTPS" and envelope["tls"].startswith("tlsv1")
    assert b"with ESMTPS id" in data


def test_openssl_s_client_starttls(server_factory, certificate):
    server = tls_server(server_factory, certificate)
    result = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{server.port}", "-brief"],
                            input="QUIT\n", capture_output=True, text=True, timeout=30)
    assert "Protocol version: TLSv1.3" in result.stderr or "Protocol version: TLSv1.2" in result.stderr, result.stderr
    result = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{server.port}", "-tls1_1"],
                            input="QUIT\n", capture_output=True, text=True, timeout=30)
    assert result.returncode != 0, "TLS 1.1 must be refused"


def test_starttls_injection_is_rejected(server_factory, certificate):
    server = tls_server(server_factory, certificate)
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.send("STARTTLS\r\nMAIL FROM:<injected@b.test>\r\n")
    code, text = raw.reply()
    assert code == 554 and "STARTTLS" in text
    assert raw.closed()


def test_starttls_injection_is_discarded_when_ignored(server_factory, certificate):
    server = tls_server(server_factory, certificate, "  starttls_injection_policy = ignore")
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.send("STARTTLS\r\nMAIL FROM:<injected@b.test>\r\n")
    assert raw.reply()[0] == 220
    tls = client_tls_context().wrap_socket(raw.sock)
    tls.sendall(b"MAIL FROM:<a@b.test>\r\n")
    reply = tls.recv(1000)
    assert reply.startswith(b"503"), reply  # EHLO again first: nothing from before the handshake survived
    tls.sendall(b"EHLO c\r\n")
    assert tls.recv(4000).startswith(b"250")


def test_implicit_tls_listener(server_factory, certificate):
    server = tls_server(server_factory, certificate, listen_options="implicit_tls = true")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    tls = client_tls_context().wrap_socket(sock)
    assert tls.recv(1000).startswith(b"220 ")
    tls.sendall(b"EHLO c\r\n")
    features = tls.recv(4000)
    assert b"STARTTLS" not in features
    with smtplib.SMTP_SSL("127.0.0.1", server.port, context=client_tls_context()) as client:
        client.sendmail("a@b.test", ["x@example.test"], b"Subject: 465\r\n\r\nhi\r\n")
    (envelope, _), = server.records().values()
    assert envelope["protocol"] == "ESMTPS"


def wait_for_slot(port, seconds):
    """A new session is greeted (220) within `seconds`: the previous one's slot was released."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        raw = Raw(port)
        code, _ = raw.reply()
        raw.close()
        if code == 220:
            return True
        time.sleep(0.2)
    return False


def test_a_starttls_without_a_client_hello_is_cut_and_frees_its_slot(server_factory, certificate):
    server = tls_server(server_factory, certificate, extra="  listener_sessions_per_ip = 1\n  tls_handshake_timeout = 1")
    silent = Raw(server.port)
    assert silent.reply()[0] == 220
    assert silent.command("EHLO c")[0] == 250
    assert silent.command("STARTTLS")[0] == 220
    # No ClientHello ever comes. The slot is taken until the handshake deadline cuts it.
    busy = Raw(server.port)
    assert busy.reply()[0] == 421
    assert silent.closed(timeout=10)
    assert wait_for_slot(server.port, 10)
    assert "TLS handshake timed out" in server.log.read_text()


def test_an_implicit_tls_connection_that_never_handshakes_is_cut(server_factory, certificate):
    server = tls_server(server_factory, certificate, listen_options="implicit_tls = true",
                        extra="  listener_sessions_per_ip = 1\n  tls_handshake_timeout = 1")
    silent = Raw(server.port)
    assert silent.closed(timeout=10)
    context = client_tls_context()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname="impulse.test") as tls:
            assert tls.recv(1024).startswith(b"220 ")


def stuff_until_the_server_stops_reading(port):
    """Pipelined commands whose replies the client never reads, until the server has stopped
    reading it for a while (its replies fill both socket buffers, so it pauses)."""
    greedy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer set before connecting: the window it advertises stays small.
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    greedy.connect(("127.0.0.1", port))
    greedy.setblocking(False)
    deadline = time.time() + 30
    blocked_since = None
    while time.time() < deadline:
        try:
            greedy.send(b"HELP\r\n" * 4096)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.time()
            if time.time() - blocked_since > 1.0:
                break
            time.sleep(0.05)
        except (ConnectionResetError, BrokenPipeError):
            break  # the server cut it
    return greedy


def test_a_client_that_stops_reading_is_cut_after_the_close_timeout(server_factory):
    """The session times out, and its 421 cannot be written: the close timeout cuts it and its
    slot is released. Sometimes the kernel takes the 421 after all and the session closes the
    usual way; the scenario is repeated until the cut itself was seen (each round must free the
    slot either way)."""
    server = server_factory('  relay_domains = ( "example.test" )\n  listener_sessions_per_ip = 1\n'
                            # (a command limit would end the session before its replies pile up)
                            '  idle_time = 1\n  close_timeout = 1\n  max_commands_per_session = 100000000').start()
    for _ in range(5):
        greedy = stuff_until_the_server_stops_reading(server.port)
        assert wait_for_slot(server.port, 20), "the stuck session's slot was released"
        greedy.close()
        if "connection cut" in server.log.read_text():
            break
    assert "connection cut" in server.log.read_text(), server.log.read_text()


CONNECT_POLICY = """
local mod = {}
function mod:validate_connect(accept, vctx)
  msys.sleep(1)
  vctx:set_code(554, "5.7.1 not from here")
  return msys.core.VALIDATE_DONE
end
msys.registerModule("gate", mod)
"""


def test_a_suspended_connect_verdict_holds_on_an_implicit_tls_listener(server_factory, certificate):
    """validate_connect waits (a DNS look-up, a tarpit) while the client speaks first: its verdict
    still decides the session, and no command the client sent runs."""
    cert, key = certificate
    stanza = 'scriptlet "scriptlet" {\n  script "gate" { source = "gate" }\n}\n'
    server = server_factory(f'  relay_domains = ( "example.test" )\n  tls_certificate = "{cert}"\n  tls_key = "{key}"',
                            listen_options="implicit_tls = true", extra=stanza)
    (server.directory / "gate.lua").write_text(CONNECT_POLICY)
    server.start()
    context = client_tls_context()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname="impulse.test") as tls:
            tls.sendall(b"EHLO early.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n")
            data = b""
            while True:
                try:
                    chunk = tls.recv(4096)
                except (ssl.SSLError, ConnectionResetError, TimeoutError):
                    break
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"554 5.7.1 not from here"), data
    assert b"250" not in data and b"354" not in data, data
    assert not server.records()
