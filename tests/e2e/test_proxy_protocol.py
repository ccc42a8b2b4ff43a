"""The PROXY protocol (HAProxy's, versions 1 and 2) on a listener: Debian's HAProxy in front of
Impulse on loopback, started by the test; the client address it passes on drives relay control,
the Received: field and the policy's view of the client. Only the configured peer may send a
header; a connection without one is closed."""
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import Raw
from test_cluster_throttles import free_port


def haproxy(tmp_path, backend_port, version):
    port = free_port()
    config = tmp_path / f"haproxy-{version}.cfg"
    send = "send-proxy" if version == 1 else "send-proxy-v2"
    config.write_text(f"""global
  log stdout format raw local0 err
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend smtp
  bind ipv6@::1:{port}
  default_backend impulse
backend impulse
  server impulse 127.0.0.1:{backend_port} {send}
""")
    process = subprocess.Popen(["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("::1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("haproxy did not start")


@pytest.mark.parametrize("version", [1, 2])
def test_haproxy_passes_the_client_address(server_factory, tmp_path, version):
    # The client reaches HAProxy on ::1; HAProxy reaches Impulse from 127.0.0.1. Only ::1 may
    # relay: the message gets through only if the header's address stands for the connection's.
    server = server_factory(
        '  relay_domains = ( "example.test" )\n  relay_hosts = ( "::1" )\n'
        '  Peer "127.0.0.1/32" { proxy_protocol = true proxy_protocol_timeout = 5 }\n')
    server.start()
    process, port = haproxy(tmp_path, server.port, version)
    try:
        with smtplib.SMTP("::1", port, timeout=30) as client:
            client.sendmail("a@sender.test", ["someone@elsewhere.test"], b"Subject: via haproxy\r\n\r\nHi.\r\n")
    finally:
        process.terminate()
        process.wait(timeout=10)
    (envelope, body), = server.records().values()
    assert envelope["peer"]["address"] == "::1"
    assert b"[IPv6:::1]" in body or b"[::1]" in body, body[:400]


def test_headers_name_the_client_for_relay_control_and_received(server_factory):
    server = server_factory(
        '  relay_domains = ( "example.test" )\n  relay_hosts = ( "203.0.113.0/24" )\n'
        '  Peer "127.0.0.1/32" { proxy_protocol = true proxy_protocol_timeout = 2 }\n')
    server.start()

    def session(header):
        raw = Raw(server.port)
        raw.sock.sendall(header)
        return raw

    # v1 from a client relay_hosts allows: it may relay.
    raw = session(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n")
    assert raw.reply()[0] == 220
    raw.command("EHLO client.test")
    assert raw.command("MAIL FROM:<a@sender.test>")[0] == 250
    assert raw.command("RCPT TO:<x@elsewhere.test>")[0] == 250
    assert raw.command("DATA")[0] == 354
    assert raw.command("Subject: proxied\r\n\r\nHi.\r\n.")[0] == 250
    (envelope, body), = server.records().values()
    assert b"[203.0.113.7]" in body and envelope["peer"]["address"] == "203.0.113.7"
    # v2 from a client it does not: relaying is refused.
    v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0, 12]) + bytes([198, 51, 100, 9, 127, 0, 0, 1])
          + (40000).to_bytes(2, "big") + (25).to_bytes(2, "big"))
    raw = session(v2)
    assert raw.reply()[0] == 220
    raw.command("EHLO client.test")
    raw.command("MAIL FROM:<a@sender.test>")
    assert raw.command("RCPT TO:<x@elsewhere.test>")[0] == 550
    # No header: closed without a reply; so is a header that is not one, and a late one.
    for opening in (b"EHLO client.test\r\n", b"PROXY TCP4 not-an-address 127.0.0.1 1 25\r\n", b"PROXY TCP4 203"):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(opening)
        started = time.monotonic()
        assert sock.recv(100) == b""
        if opening == b"PROXY TCP4 203":
            assert 1.5 <= time.monotonic() - started <= 6, "proxy_protocol_timeout closes a late header"
        sock.close()
    assert "proxy_protocol: no PROXY header; closed" in server.log.read_text()


def test_only_configured_peers_may_send_a_header(server_factory):
    # proxy_protocol is on for ::1 only: from 127.0.0.1 a PROXY line is just an unknown command.
    server = server_factory('  relay_domains = ( "example.test" )\n  Peer "::1/128" { proxy_protocol = true }\n')
    server.start()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    assert raw.command("PROXY TCP4 203.0.113.7 127.0.0.1 40000 25")[0] == 500


def test_proxy_protocol_timeout_zero_is_refused(server_factory):
    from conftest import BIN
    server = server_factory('  proxy_protocol = true\n  proxy_protocol_timeout = 0\n')
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode != 0 and "proxy_protocol_timeout" in result.stderr


def xclient_server(server_factory):
    return server_factory(
        '  relay_domains = ( "example.test" )\n  relay_hosts = ( "203.0.113.0/24" )\n'
        '  Peer "127.0.0.1/32" { smtp_extensions = ( "XCLIENT" ) }\n').start()


def test_swaks_xclient_from_a_trusted_proxy(server_factory):
    server = xclient_server(server_factory)
    result = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port}", "--xclient-addr", "203.0.113.7",
                             "--xclient-name", "mail.client.example", "--helo", "proxy.test",
                             "--from", "a@sender.test", "--to", "x@elsewhere.test"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (envelope, body), = server.records().values()
    assert envelope["peer"]["address"] == "203.0.113.7" and b"[203.0.113.7]" in body
    assert "xclient: the session continues as the proxy's client" in server.log.read_text()


def test_xclient_rules(server_factory):
    server = xclient_server(server_factory)
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    ehlo = raw.command("EHLO proxy.test")
    assert "XCLIENT NAME ADDR PORT PROTO HELO LOGIN" in ehlo[1]
    raw.command("MAIL FROM:<a@sender.test>")
    assert raw.command("XCLIENT ADDR=198.51.100.9")[0] == 503
    raw.command("RSET")
    # A client outside relay_hosts, authenticated by the proxy (LOGIN): it may relay, and the
    # session starts again with a greeting.
    assert raw.command("XCLIENT ADDR=198.51.100.9 LOGIN=alice HELO=client.example PROTO=ESMTP")[0] == 220
    assert raw.command("MAIL FROM:<a@sender.test>")[0] == 250
    assert raw.command("RCPT TO:<x@elsewhere.test>")[0] == 250
    raw.command("RSET")
    # The client it now speaks for is not trusted with XCLIENT.
    assert raw.command("XCLIENT ADDR=203.0.113.9")[0] == 550
    # Without LOGIN, a client outside relay_hosts may not relay.
    other = Raw(server.port)
    other.reply()
    other.command("EHLO proxy.test")
    assert other.command("XCLIENT ADDR=198.51.100.9")[0] == 220
    other.command("EHLO client.example")
    other.command("MAIL FROM:<a@sender.test>")
    assert other.command("RCPT TO:<x@elsewhere.test>")[0] == 550


def test_xclient_is_refused_to_untrusted_clients(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n').start()
    raw = Raw(server.port)
    raw.reply()
    assert "XCLIENT" not in raw.command("EHLO client.test")[1]
    assert raw.command("XCLIENT ADDR=203.0.113.7") == (550, "550 5.7.0 Error: insufficient authorization")
