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
