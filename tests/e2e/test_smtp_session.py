"""Real clients against the real server: smtplib, swaks, smtp-source, raw pipelining and BDAT."""
import smtplib
import subprocess

from conftest import Raw


def test_smtplib_message_is_spooled_byte_for_byte(relay_server):
    body = b"Subject: hello\r\nX-Odd:  spaced \r\n\r\nline one\r\n.starts with dot\r\n\r\n"
    with smtplib.SMTP("127.0.0.1", relay_server.port) as client:
        client.ehlo("client.test")
        assert client.has_extn("pipelining") and client.has_extn("chunking") and client.has_extn("dsn")
        assert client.esmtp_features["size"] == str(50 * 1024 * 1024)
        code, _ = client.mail("sender@source.test", ["BODY=8BITMIME", "RET=HDRS", "ENVID=env+2B1"])
        assert code == 250
        assert client.rcpt("a@example.test", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a@example.test"])[0] == 250
        assert client.rcpt("b@example.test")[0] == 250
        code, text = client.data(body)
        assert code == 250 and text.startswith(b"2.0.0 Ok: queued as ")
        message_id = text.split()[-1].decode()
    records = relay_server.records()
    envelope, data = records[message_id]
    assert envelope["mail_from"] == "sender@source.test"
    assert [r["address"] for r in envelope["recipients"]] == ["a@example.test", "b@example.test"]
    assert envelope["recipients"][0]["notify"] == "SUCCESS,FAILURE"
    assert envelope["recipients"][0]["orcpt"] == "rfc822;a@example.test"
    assert envelope["body"] == "8BITMIME" and envelope["ret"] == "HDRS" and envelope["envid"] == "env+2B1"
    assert envelope["helo"] == "client.test" and envelope["peer"]["address"] == "127.0.0.1"
    received, rest = data.split(b"\r\n\t", 1)
    assert received == b"Received: from client.test ([127.0.0.1])"
    assert f"by impulse.test (Impulse) with ESMTP id {message_id}".encode() in rest
    # smtplib dot-stuffs; Impulse undoes it: the stored message is the original, after the trace header.
    assert data.endswith(body)
    listing = relay_server.spool_list()
    assert message_id in listing and "<sender@source.test> -> <a@example.test> <b@example.test>" in listing


def test_every_reply_but_greeting_and_ehlo_has_an_enhanced_code(relay_server):
    raw = Raw(relay_server.port)
    code, text = raw.reply()
    assert code == 220 and text == "220 impulse.test ESMTP Impulse"
    assert raw.command("EHLO c")[0] == 250
    for command in ["NOOP", "MAIL FROM:<a@b.test>", "RCPT TO:<x@example.test>", "RSET", "VRFY x", "BOGUS",
                    "RCPT TO:<x@example.test>", "HELP", "MAIL FROM:<bad"]:
        code, text = raw.command(command)
        for line in text.split("\n"):
            assert line[4:].split(" ")[0].count(".") == 2, (command, text)
    assert raw.command("QUIT")[0] == 221


def test_pipelined_commands_get_replies_in_order(relay_server):
    raw = Raw(relay_server.port)
    raw.reply()
    raw.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@example.test>\r\nRCPT TO:<2@elsewhere.test>\r\n"
             "RCPT TO:<3@example.test>\r\nDATA\r\n")
    codes = [raw.reply()[0] for _ in range(6)]
    assert codes == [250, 250, 250, 550, 250, 354]
    raw.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<4@example.test>\r\nDATA\r\n")
    assert [raw.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    raw.send("x\r\n.\r\nQUIT\r\n")
    assert [raw.reply()[0] for _ in range(2)] == [250, 221]
    envelopes = [e for e, _ in relay_server.records().values()]
    assert sorted(len(e["recipients"]) for e in envelopes) == [1, 2]
    assert sorted(e["mail_from"] for e in envelopes) == ["", "a@b.test"]


def test_bdat_chunks_are_stored_as_raw_octets(relay_server):
    raw = Raw(relay_server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<x@example.test>")
    part1 = b"Subject: chunked\r\n\r\n.line with dot\r\n"
    part2 = b"tail with\r\n.\r\nno end marker meaning\r\n"
    assert raw.command(b"BDAT %d\r\n" % len(part1) + part1)[0] == 250
    code, text = raw.command(b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert code == 250, text
    message_id = text.split()[-1]
    _, data = relay_server.records()[message_id]
    assert data.endswith(part1 + part2)
    # A BDAT without a transaction is refused after its octets are read; the session stays in sync.
    assert raw.command(b"BDAT 5\r\nhello")[0] == 503
    assert raw.command("NOOP")[0] == 250


def test_swaks_delivers_a_message(relay_server):
    result = subprocess.run(["swaks", "--server", f"127.0.0.1:{relay_server.port}", "--from", "s@source.test",
                             "--to", "r@example.test", "--header", "Subject: via swaks", "--body", "hello from swaks"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (envelope, data), = relay_server.records().values()
    assert envelope["recipients"][0]["address"] == "r@example.test"
    assert b"Subject: via swaks" in data and b"hello from swaks" in data


def test_smtp_source_load_lands_every_message(relay_server):
    result = subprocess.run(["/usr/sbin/smtp-source", "-s", "5", "-m", "200", "-l", "2048", "-f", "s@source.test",
                             "-t", "r@example.test", f"127.0.0.1:{relay_server.port}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = relay_server.records()
    assert len(records) == 200
    assert all(len(data) > 2048 for _, data in records.values())


def test_ipv6_listener(server_factory):
    server = server_factory('  relay_hosts = ( "::1" )', listen="[::1]:0").start()
    import socket
    raw = Raw(server.port, host="::1", family=socket.AF_INET6)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@anywhere.test>")[0] == 250
    assert raw.command("DATA")[0] == 354
    assert raw.command("x\r\n.")[0] == 250
    (envelope, _), = server.records().values()
    assert envelope["peer"]["address"] == "::1"
