"""Relay control and strict framing (SMTP smuggling) against the real server."""
import pytest

from conftest import Raw, begin_data

SMUGGLING = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r\n", b"\n.\r", b"\r\n\n.\r\n", b"\r\n\r.\r\n"]


@pytest.mark.parametrize("variant", SMUGGLING, ids=[v.decode().encode("unicode_escape").decode() for v in SMUGGLING])
def test_smuggling_is_refused_and_never_makes_two_messages(relay_server, variant):
    raw = Raw(relay_server.port)
    begin_data(raw)
    raw.send(b"Subject: a\r\n\r\nbody" + variant + b"MAIL FROM:<evil@b.test>\r\nRCPT TO:<y@example.test>\r\nDATA\r\n"
             b"\r\nsmuggled\r\n.\r\nNOOP\r\n")
    code, text = raw.reply()
    assert code == 554 and "bare CR or LF" in text
    assert raw.reply()[0] == 250  # the NOOP: the injected commands were message data, not commands
    assert relay_server.records() == {}


def test_normalising_bare_line_ends_still_yields_one_message(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  rfc2822_lone_lf_in_body = fix').start()
    raw = Raw(server.port)
    begin_data(raw)
    raw.send(b"Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n")
    code, text = raw.reply()
    assert code == 250
    (envelope, data), = server.records().values()
    assert envelope["recipients"][0]["address"] == "x@example.test"
    assert data.endswith(b"body\r\n.\r\nMAIL FROM:<evil@b.test>\r\n")
    # BDAT's bare line ends are stored as CRLF too (DATA's "\r.\r" reads as a bare CR, a dot, a bare CR).
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.command("RCPT TO:<x@example.test>")[0] == 250
    content = b"Subject: b\r\n\r\nbody\n.\rline\r\r\nend\n"
    assert raw.command(f"BDAT {len(content)} LAST\r\n".encode() + content)[0] == 250
    [chunked] = [d for _, d in server.records().values() if d != data]
    assert chunked.endswith(b"Subject: b\r\n\r\nbody\r\n.\r\nline\r\n\r\nend\r\n")


def test_relay_is_refused_by_default(relay_server):
    raw = Raw(relay_server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@elsewhere.test>") == (550, "550 5.7.1 <x@elsewhere.test>: Relay access denied")
    for routed in ["<x%elsewhere.test@example.test>", "<elsewhere.test!x@example.test>", "<@example.test:x@elsewhere.test>",
                   "<@elsewhere.test:x@example.test>", "<\"x@elsewhere.test\"@example.test>"]:
        assert raw.command(f"RCPT TO:{routed}")[0] == 550, routed
    assert raw.command("RCPT TO:<x@EXAMPLE.TEST>")[0] == 250


def test_no_configuration_is_no_open_relay(server_factory):
    server = server_factory("").start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@example.test>")[0] == 550


def test_relay_hosts_may_relay_anywhere(server_factory):
    server = server_factory('  relay_hosts = ( "127.0.0.0/8" )').start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@anywhere.test>")[0] == 250


def test_peer_scope_overrides_listener(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  Peer "127.0.0.1" { open_relay = true }').start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@anywhere.test>")[0] == 250


def test_postmaster_without_a_domain_is_accepted_and_goes_to_the_postmaster_address(server_factory):
    """RFC 5321 §4.5.1: <Postmaster> in any case, from a client that may not relay."""
    plain = server_factory('  relay_domains = ( "example.test" )').start()
    raw = Raw(plain.port)
    begin_data(raw, recipient="POSTMASTER")
    assert raw.command("Subject: hi\r\n\r\nfor the postmaster\r\n.")[0] == 250
    configured = server_factory('  postmaster_address = "abuse-desk@ops.example.test"').start()
    raw = Raw(configured.port)
    begin_data(raw, recipient="Postmaster")
    assert raw.command("Subject: hi\r\n\r\nfor the postmaster\r\n.")[0] == 250
    assert raw.command("RSET")[0] == 250
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.command("RCPT TO:<someone@elsewhere.test>")[0] == 550, "still no relay"
    [(envelope, _)] = plain.records().values()
    assert [r["address"] for r in envelope["recipients"]] == ["postmaster@impulse.test"]
    [(envelope, _)] = configured.records().values()
    assert [r["address"] for r in envelope["recipients"]] == ["abuse-desk@ops.example.test"]


def test_a_message_with_more_received_fields_than_the_hop_limit_is_refused(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  max_received_headers = 5').start()
    raw = Raw(server.port)
    begin_data(raw)
    loop = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Wed, 2 Dec 2026 10:00:00 +0000\r\n" for i in range(6))
    code, text = raw.command(loop + "Subject: loop\r\n\r\nbody\r\n.")
    assert (code, text[:9]) == (554, "554 5.4.6"), text
    begin_data(raw, greeting=False)
    assert raw.command(loop[:loop.index("Received", 10) * 5] + "Subject: ok\r\n\r\nbody\r\n.")[0] == 250
    # The same through BDAT; and BDAT content follows DATA's line rules.
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.command("RCPT TO:<x@example.test>")[0] == 250
    message = (loop + "Subject: loop\r\n\r\nbody\r\n").encode()
    assert raw.command(f"BDAT {len(message)} LAST\r\n".encode() + message)[0] == 554
    for content in (b"Subject: bare\r\n\r\nbare\nLF\r\n", b"Subject: bare\r\n\r\nbare\rCR\r\n",
                    b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n"):
        assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
        assert raw.command("RCPT TO:<x@example.test>")[0] == 250
        code, text = raw.command(f"BDAT {len(content)} LAST\r\n".encode() + content)
        assert code == 554 and "5.6.0" in text, (content[:40], text)
    assert len(server.records()) == 1
