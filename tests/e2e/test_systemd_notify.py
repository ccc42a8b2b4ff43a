"""systemd's readiness protocol (Type=notify): a datagram socket stands for the service manager,
named by NOTIFY_SOCKET as systemd does; Impulse says READY=1 once it accepts mail, RELOADING=1
and READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM."""
import os
import signal
import socket
import subprocess
import time

from conftest import BIN, ROOT_FLAG, Raw


def test_ready_reloading_and_stopping(tmp_path):
    notify = tmp_path / "notify"
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(notify))
    manager.settimeout(30)
    config = tmp_path / "ecelerity.conf"
    config.write_text('hostname = "impulse.test"\nspoolbase = "spool"\nsuspend_delivery = true\n'
                      'ESMTP_Listener {\n  relay_domains = ( "example.test" )\n  Listen "127.0.0.1:0" { }\n}\n')
    log = open(tmp_path / "impulse.log", "wb")
    process = subprocess.Popen([BIN, "serve", "--config", str(config)] + ROOT_FLAG, stdout=log, stderr=log,
                               env={**os.environ, "NOTIFY_SOCKET": str(notify)})
    try:
        ready = manager.recv(4096).decode()
        assert ready.startswith("READY=1\nSTATUS=listening on 127.0.0.1:")
        port = int(ready.rsplit(":", 1)[1])
        assert Raw(port).reply()[0] == 220, "READY=1 comes once mail is accepted"
        process.send_signal(signal.SIGHUP)
        reloading = manager.recv(4096).decode()
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert manager.recv(4096).decode().startswith("READY=1")
        process.send_signal(signal.SIGTERM)
        assert manager.recv(4096).decode() == "STOPPING=1"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        manager.close()
