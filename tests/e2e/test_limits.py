"""Every peer-controlled size, count and time is bounded, with one correct reply."""
import socket
import time

from conftest import Raw, begin_data


def test_overlong_command_gets_one_reply_and_session_continues(relay_server):
    raw = Raw(relay_server.port)
    raw.reply()
    raw.send("NOOP " + "x" * 100_000 + "\r\nNOOP\r\n")
    code, text = raw.reply()
    assert code == 500 and "Line too long" in text
    assert raw.reply()[0] == 250


def test_message_size_limit(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  max_message_size = 1000').start()
    raw = Raw(server.port)
    raw.reply()
    assert "SIZE 1000" in raw.command("EHLO c")[1]
    assert raw.command("MAIL FROM:<a@b.test> SIZE=5000")[0] == 552
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<x@example.test>")
    raw.command("DATA")
    raw.send(("y" * 500 + "\r\n") * 10 + ".\r\n")
    assert raw.reply()[0] == 552
    assert raw.command("NOOP")[0] == 250
    assert server.records() == {}


def test_recipient_limit(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  max_recipients_per_message = 100').start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    raw.send("".join(f"RCPT TO:<u{i}@example.test>\r\n" for i in range(101)))
    codes = [raw.reply()[0] for _ in range(101)]
    assert codes == [250] * 100 + [452]


def test_text_line_limit(relay_server):
    raw = Raw(relay_server.port)
    begin_data(raw)
    code, text = raw.command("z" * 1200 + "\r\n.")
    assert code == 554 and "longer than 1000" in text


def test_error_limit_closes_with_421(server_factory):
    server = server_factory("  max_errors_per_session = 3").start()
    raw = Raw(server.port)
    raw.reply()
    assert raw.command("FOO")[0] == 500
    assert raw.command("FOO")[0] == 500
    assert raw.command("FOO")[0] == 421
    assert raw.closed()


def test_connections_per_client_ip(server_factory):
    server = server_factory("  listener_sessions_per_ip = 2").start()
    first, second = Raw(server.port), Raw(server.port)
    assert first.reply()[0] == 220 and second.reply()[0] == 220
    third = Raw(server.port)
    assert third.reply() == (421, "421 4.4.5 Service unavailable, concurrency limit reached.")
    assert third.closed()
    first.command("QUIT")
    first.close()
    time.sleep(0.3)
    fourth = Raw(server.port)
    assert fourth.reply()[0] == 220


def test_total_sessions_per_listener(server_factory):
    server = server_factory("  listener_sessions = 1").start()
    first = Raw(server.port)
    assert first.reply()[0] == 220
    second = Raw(server.port)
    assert second.reply()[0] == 421


def test_idle_timeout(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )\n  idle_time = 1\n  data_timeout = 1').start()
    raw = Raw(server.port)
    raw.reply()
    started = time.time()
    code, text = raw.reply()
    assert code == 421 and "timeout" in text
    assert 0.9 <= time.time() - started < 5
    # In DATA, silence is bounded too.
    raw = Raw(server.port)
    begin_data(raw)
    raw.send("partial line")
    assert raw.reply()[0] == 421
    assert server.records() == {}


def test_reception_memory_limit_refuses_with_452_and_recovers(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )', global_options="reception_memory_limit = 65536").start()
    raw = Raw(server.port)
    begin_data(raw)
    code, text = raw.command(("m" * 98 + "\r\n") * 1000 + ".")  # 100 kB: more than all sessions may hold
    assert (code, text) == (452, "452 4.3.1 Insufficient system storage, try again later")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<x@example.test>")
    raw.command("DATA")
    assert raw.command(("s" * 98 + "\r\n") * 100 + ".")[0] == 250  # the budget was given back
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<x@example.test>")
    big = b"c" * 100_000
    assert raw.command(b"BDAT %d LAST\r\n" % len(big) + big)[0] == 452
    assert raw.command("NOOP")[0] == 250
    assert len(server.records()) == 1


def test_a_session_s_commands_and_lifetime_are_bounded(server_factory):
    server = server_factory("  max_commands_per_session = 5").start()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    for _ in range(5):
        assert raw.command("NOOP")[0] == 250
    code, text = raw.command("NOOP")
    assert code == 421 and "too many commands" in text
    assert raw.closed()
    busy = server_factory("  max_session_duration = 2").start()
    raw = Raw(busy.port)
    assert raw.reply()[0] == 220
    started = time.time()
    # A client that keeps the session busy (never idle) is still closed when its time is up.
    while time.time() - started < 10:
        code, text = raw.command("NOOP")
        if code != 250:
            break
        time.sleep(0.2)
    assert code == 421 and "session too long" in text, text
    assert raw.closed()
