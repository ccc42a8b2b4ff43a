"""LMTP delivery (RFC 2033, delivery_method = LMTP) to Dovecot's LMTP server, started by the test
on loopback and on a Unix socket in a temporary directory, and to the recording sink in LMTP
mode for per-recipient replies to the message."""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sink import Sink
from test_delivery import deliver_config, mainlog, send, wait_until


def free_tcp_port():
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def dovecot(tmp_path):
    """Dovecot's lmtp service for the users alice and bob (maildirs under mail/), on a TCP port
    and a Unix socket; mail is stored as nobody when the tests run as root (Dovecot refuses
    root), else as the test's own user."""
    base = tmp_path / "dv"
    for name in ("run", "state"):
        (base / name).mkdir(parents=True)
    # The mail user (nobody under root) must reach the maildirs: they live outside pytest's
    # private temporary tree.
    mail = Path(tempfile.mkdtemp(prefix="impulse-dovecot-mail-"))
    os.chmod(mail, 0o777)
    (base / "users").write_text("alice:::::::\nbob:::::::\n")
    uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    port = free_tcp_port()
    socket_path = base / "lmtp.sock"
    config = base / "dovecot.conf"
    config.write_text(f"""
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:{mail}/%n
first_valid_uid = 0
first_valid_gid = 0
mail_uid = {uid}
mail_gid = {gid}
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
lmtp_save_to_detail_mailbox = no
auth_username_format = %n
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener {socket_path} {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {user}
}}
service auth-worker {{
  user = {user}
}}
passdb {{
  driver = passwd-file
  args = {base}/users
}}
userdb {{
  driver = passwd-file
  args = {base}/users
  default_fields = home={mail}/%n
}}
""")
    process = subprocess.Popen(["dovecot", "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while not socket_path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert socket_path.exists(), (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() else "no log"
    yield port, socket_path, mail
    subprocess.run(["doveadm", "-c", str(config), "stop"], capture_output=True)
    process.wait(timeout=20)
    shutil.rmtree(mail, ignore_errors=True)


def maildir_messages(mail, user):
    new = mail / user / "new"
    return [path.read_bytes() for path in new.iterdir()] if new.exists() else []


def test_lmtp_to_dovecot_over_tcp_and_a_unix_socket(server_factory, dovecot):
    port, socket_path, mail = dovecot
    server = server_factory(**deliver_config(
        "127.0.0.1@1",
        f'domain "one.itest" {{ delivery_method = LMTP  gateway = "127.0.0.1:{port}" }}\n'
        f'domain "two.itest" {{ delivery_method = LMTP  gateway = "unix:{socket_path}" }}\n'
        'generate_bounces = false')).start()
    send(server.port, ["alice@one.itest", "nobody@one.itest"])
    send(server.port, ["bob@two.itest"])
    wait_until(lambda: maildir_messages(mail, "alice") and maildir_messages(mail, "bob"), what="both maildirs")
    alice = maildir_messages(mail, "alice")
    assert len(alice) == 1 and b"Subject: hello" in alice[0] and b"\n.leading dot" in alice[0]
    assert len(maildir_messages(mail, "bob")) == 1
    delivered = wait_until(lambda: len(mainlog(server, "D")) == 2 and mainlog(server, "D"), what="two D lines")
    assert sorted(line[5] for line in delivered) == ["one.itest", "two.itest"]
    permanent = wait_until(lambda: mainlog(server, "P"), what="a P line")
    assert "550 5.1.1 <nobody@one.itest> User doesn't exist" in permanent[0][13]


def test_lmtp_gives_each_recipient_its_own_reply_to_the_message(server_factory, tmp_path):
    sink = Sink(lmtp=True)
    sink.data_replies.update({"full": "452 4.2.2 <full@sink.test> mailbox full", "gone": "550 5.1.1 gone"})
    try:
        server = server_factory(**deliver_config(
            "127.0.0.1@1",
            f'domain "sink.test" {{ delivery_method = LMTP  lmtp_port = {sink.port}  gateway = "127.0.0.1" }}\n'
            'generate_bounces = false\nretry_interval = 1')).start()
        send(server.port, ["ok@sink.test", "full@sink.test", "gone@sink.test"])
        assert sink.wait_for(1)[0].recipients == ["ok@sink.test"]
        assert sink.messages[0].helo == "impulse.test"
        transient = wait_until(lambda: mainlog(server, "T"), what="a T line")
        assert transient[0][13] == "end of data: 452 4.2.2 <full@sink.test> mailbox full"
        permanent = wait_until(lambda: mainlog(server, "P"), what="a P line")
        assert permanent[0][13] == "end of data: 550 5.1.1 gone"
        # The retry carries only the recipient still pending: ok@ is not delivered twice.
        del sink.data_replies["full"]
        messages = sink.wait_for(2, timeout=20)
        assert messages[1].recipients == ["full@sink.test"]
        time.sleep(1.5)
        assert [r for m in sink.messages for r in m.recipients] == ["ok@sink.test", "full@sink.test"]
    finally:
        sink.close()


def test_an_unsupported_delivery_method_is_refused(server_factory):
    from conftest import BIN
    server = server_factory(**deliver_config("127.0.0.1@1", 'domain "one.itest" { delivery_method = ECSTREAM }'))
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "'delivery_method' ECSTREAM is not supported: Impulse delivers with ESMTP or LMTP" in result.stderr
