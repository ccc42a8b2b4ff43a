"""What was acknowledged survives kill -9; damaged spool data is quarantined; I/O errors answer 451."""
import signal
import smtplib
import threading
import time

from conftest import Raw, begin_data


def send_until(port, stop, acknowledged, errors):
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("crash.test")
                while not stop.is_set():
                    body = f"Subject: crash\r\n\r\n{time.time()}\r\n".encode() + (b"x" * 98 + b"\r\n") * 30
                    client.mail("a@b.test")
                    client.rcpt("x@example.test")
                    code, text = client.data(body)
                    if code == 250:
                        acknowledged.append((text.split()[-1].decode(), body))
        except (OSError, smtplib.SMTPException) as error:
            errors.append(error)
            time.sleep(0.01)


def test_kill_9_loses_no_acknowledged_message(relay_server):
    stop = threading.Event()
    acknowledged, errors = [], []
    threads = [threading.Thread(target=send_until, args=(relay_server.port, stop, acknowledged, errors)) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.time() + 20
    while len(acknowledged) < 300 and time.time() < deadline:
        time.sleep(0.05)
    relay_server.process.send_signal(signal.SIGKILL)
    relay_server.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 50, errors[:3]
    relay_server.start()
    records = relay_server.records()
    for message_id, body in acknowledged:
        assert message_id in records, message_id
        assert records[message_id][1].endswith(body)
    assert f"{len(records)} message(s) recovered" in relay_server.log.read_text()


def test_damaged_segment_tail_is_quarantined(relay_server):
    with smtplib.SMTP("127.0.0.1", relay_server.port) as client:
        client.sendmail("a@b.test", ["x@example.test"], b"Subject: keep\r\n\r\nme\r\n")
    assert relay_server.stop() == 0
    segment, = (relay_server.directory / "spool" / "queue").glob("*.seg")
    with open(segment, "ab") as handle:
        handle.write(b"IMPULSE-SPOOL 1 400 100\n{\"version\":1,\"id\":\"half-written")
    relay_server.start()
    log = relay_server.log.read_text()
    assert "quarantined damaged bytes" in log and "1 message(s) recovered, 1 quarantined" in log
    quarantined, = (relay_server.directory / "spool" / "quarantine").iterdir()
    assert quarantined.read_bytes().startswith(b"IMPULSE-SPOOL 1 400 100")
    assert len(relay_server.records()) == 1
    assert "1 message(s)" in relay_server.spool_list()


def test_spool_write_failure_answers_451_and_session_stays_usable(server_factory):
    # A real I/O error: the process may not write files larger than 20 kB (EFBIG).
    server = server_factory('  relay_domains = ( "example.test" )', prefix=["prlimit", "--fsize=20000"]).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    codes = []
    for size in (8000, 30000, 500):
        raw.command("MAIL FROM:<a@b.test>")
        raw.command("RCPT TO:<x@example.test>")
        raw.command("DATA")
        codes.append(raw.command("x" * 100 + "\r\n" + ("y" * 98 + "\r\n") * (size // 100) + "."))
    assert [c for c, _ in codes] == [250, 451, 250], codes
    assert codes[1][1] == "451 4.3.0 Requested action aborted: local error in processing"
    assert len(server.records()) == 2


def test_sigterm_lets_the_open_transaction_finish(relay_server):
    raw = Raw(relay_server.port)
    begin_data(raw)
    raw.send("Subject: in flight\r\n\r\npart one\r\n")
    idle = Raw(relay_server.port)
    idle.reply()
    relay_server.process.send_signal(signal.SIGTERM)
    assert idle.reply()[0] == 421  # idle sessions are told at once
    time.sleep(0.3)
    raw.send("part two\r\n.\r\n")
    code, text = raw.reply()
    assert code == 250
    assert raw.closed()
    assert relay_server.process.wait(timeout=20) == 0
    (envelope, data), = relay_server.records().values()
    assert data.endswith(b"part one\r\npart two\r\n")
