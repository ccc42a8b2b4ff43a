"""Momentum's `user` and `group`: started as root, Impulse binds a privileged port, hands its
spool, logs and control socket to the unprivileged `impulse` account (scripts/setup.sh adds it)
and gives up root before it loads scripts or accepts mail. As root without `user` it refuses to
start unless told to. Needs root: skipped otherwise."""
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BIN, Impulse, Raw

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")

SCRIPT = """
local mod = {}
function mod:validate_data_spool(msg, ac, vctx)
  local content = msys.readfile(SECRET)
  msg:header("X-Root-Only-File", content and "readable" or "unreadable")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("probe", mod)
"""


def privileged_port():
    for port in range(1023, 900, -1):
        probe = socket.socket()
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            probe.close()
    pytest.skip("no free port under 1024")


@pytest.fixture
def world_readable_directory():
    # The unprivileged user must reach its files: pytest's own temporary tree is root's alone.
    directory = Path(tempfile.mkdtemp(prefix="impulse-privileges-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_root_binds_then_becomes_the_user(world_readable_directory):
    impulse = pwd.getpwnam("impulse")
    secret = world_readable_directory / "root-only"
    secret.write_text("root's secret\n")
    secret.chmod(0o600)
    (world_readable_directory / "probe.lua").write_text(SCRIPT.replace("SECRET", f'"{secret}"'))
    port = privileged_port()
    server = Impulse(world_readable_directory, '  relay_domains = ( "example.test" )', listen=f"127.0.0.1:{port}",
                     global_options='user = "impulse"\ngroup = "impulse"\n'
                                    'ec_logger { mainlog = "mainlog.ec" paniclog = "paniclog.ec" }',
                     extra='Control_Listener { Listen "ctl.sock" { } }\n'
                           'alerting {}\nscriptlet "scriptlet" { script "probe" { source = "probe" } }\n')
    server.start()
    try:
        assert server.port == port, "the privileged port was bound"
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
        assert set(uids) == {str(impulse.pw_uid)} and set(gids) == {str(impulse.pw_gid)}, (uids, gids)
        assert f"running as impulse (uid {impulse.pw_uid}" in server.log.read_text()
        for path in [world_readable_directory / "spool", world_readable_directory / "spool" / "queue",
                     world_readable_directory / "mainlog.ec", world_readable_directory / "paniclog.ec",
                     world_readable_directory / "ctl.sock"]:
            assert path.lstat().st_uid == impulse.pw_uid, f"{path} is not the user's"
        assert stat.S_ISSOCK((world_readable_directory / "ctl.sock").lstat().st_mode)
        raw = Raw(port)
        assert raw.reply()[0] == 220
        raw.command("EHLO client.test")
        raw.command("MAIL FROM:<a@sender.test>")
        raw.command("RCPT TO:<b@example.test>")
        raw.command("DATA")
        assert raw.command("Subject: privileges\r\n\r\nHi.\r\n.")[0] == 250
        (envelope, body), = server.records().values()
        assert b"X-Root-Only-File: unreadable" in body, "scripts run without root"
        summary = subprocess.run([BIN, "console", "--socket", str(world_readable_directory / "ctl.sock"), "summary"],
                                 capture_output=True, text=True, timeout=30)
        assert summary.returncode == 0
    finally:
        server.stop()


def test_root_without_user_refuses_unless_told(world_readable_directory, tmp_path):
    config = tmp_path / "ecelerity.conf"
    base = 'hostname = "impulse.test"\nspoolbase = "spool"\nESMTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n'
    config.write_text(base)
    refused = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    assert "refusing to run as root: set user (and group)" in refused.stderr + refused.stdout
    for user, message in [("root", "is root: name an unprivileged user"), ("no-such-account-x", "no such user")]:
        config.write_text(f'user = "{user}"\n' + base)
        result = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and message in result.stderr + result.stdout, result.stderr
