"""Random and hostile input never crashes or wedges the server (seeded, bounded, loopback only)."""
import random
import socket

from conftest import Raw

VERBS = [b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"BDAT", b"RSET", b"NOOP", b"QUIT", b"VRFY",
         b"STARTTLS", b"HELP", b"AUTH", b"\x00", b".", b"", b"MAIL FROM:<", b"RCPT TO:<@", b"BDAT 99999999999999999999"]
PIECES = [b"<", b">", b"@", b"\"", b"\\", b" ", b"\r", b"\n", b"\r\n", b".\r\n", b"\x00", b"\xff", b"=", b"SIZE=",
          b"NOTIFY=", b"ORCPT=rfc822;", b"a", b"example.test", b"\xe2\x82\xac", b"[1.2.3.4]", b"%", b"!"]


def test_random_sessions_do_not_crash_or_wedge_the_server(relay_server):
    rng = random.Random(20261125)
    for _ in range(60):
        sock = socket.create_connection(("127.0.0.1", relay_server.port), timeout=5)
        try:
            for _ in range(rng.randint(1, 30)):
                line = rng.choice(VERBS) + b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
                if rng.random() < 0.8:
                    line += b"\r\n"
                if rng.random() < 0.05:
                    line += bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
                sock.sendall(line)
            sock.settimeout(0.2)
            try:
                while sock.recv(65536):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            sock.close()
    assert relay_server.process.poll() is None, "the server died"
    raw = Raw(relay_server.port)
    assert raw.reply()[0] == 220
    raw.command("EHLO ok")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@example.test>")[0] == 250
    assert raw.command("DATA")[0] == 354
    assert raw.command("Subject: still here\r\n\r\nyes\r\n.")[0] == 250
