"""Fixtures that run the real impulse binary on a temporary config and talk to it on loopback."""
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("IMPULSE_BIN", str(ROOT / ".build" / "debug" / "impulse"))


# As root, a configuration without `user` runs only when told to (docs/operations.md); the tests'
# servers run as whoever runs the tests.
ROOT_FLAG = ["--allow-root"] if os.geteuid() == 0 else []


class Impulse:
    """One impulse process on its own config, spool and loopback port."""

    def __init__(self, directory: Path, body: str, listen: str = "127.0.0.1:0", global_options: str = "",
                 listen_options: str = "", prefix: list[str] | None = None, extra: str = "", deliver: bool = False):
        self.directory = directory
        self.config = directory / "ecelerity.conf"
        # Tests that are not about delivery keep their mail in the spool: no DNS look-up or
        # connection ever leaves loopback.
        hold = "" if deliver else "suspend_delivery = true\n"
        self.config.write_text(
            f'hostname = "impulse.test"\nspoolbase = "spool"\n{hold}{global_options}\n'
            f'ESMTP_Listener {{\n{body}\n  Listen "{listen}" {{ {listen_options} }}\n}}\n{extra}\n')
        self.log = directory / "impulse.log"
        self.prefix = prefix or []
        self.process = None
        self.port = None

    def start(self, expect_ready: bool = True):
        self.logfile = open(self.log, "ab")
        offset = self.log.stat().st_size
        self.process = subprocess.Popen(self.prefix + [BIN, "serve", "--config", str(self.config), "--log-level", "info"]
                                        + ROOT_FLAG,
                                        stdout=self.logfile, stderr=self.logfile)
        if not expect_ready:
            return self
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            self.startup_log = text
            match = re.findall(r"listening on (\S+?):(\d+)[ ,]", text)
            if match and "impulse ready" in text:
                self.port = int(match[-1][1])
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"impulse exited: {text}")
            time.sleep(0.02)
        raise RuntimeError("impulse did not become ready: " + self.log.read_text())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            # Under a wrapper that stays (strace), the server is its child, and a wrapper that is
            # signalled itself may detach and leave the server running; a wrapper that execs
            # (prlimit) is the server.
            children = subprocess.run(["pkill", f"-{int(sig)}", "-P", str(self.process.pid)], check=False)
            if not self.prefix or children.returncode != 0:
                self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        if getattr(self, "logfile", None):
            self.logfile.close()
        return self.process.returncode if self.process else None

    def spool_list(self) -> str:
        return subprocess.run([BIN, "spool", "list", "--config", str(self.config)], capture_output=True, text=True,
                              check=True).stdout

    def spooled_ids(self) -> set[str]:
        return set(re.findall(r"^([0-9A-F]{13}-[0-9A-F]{8}) ", self.spool_list(), re.M))

    def records(self) -> dict[str, bytes]:
        """id -> stored message data, read straight from the segment files."""
        out = {}
        for segment in sorted((self.directory / "spool" / "queue").glob("*.seg")):
            data = segment.read_bytes()
            offset = 0
            while offset < len(data):
                if data[offset] == 0 and not data[offset:].strip(b"\0"):
                    break  # the open segment's preallocated zeros (docs/spool-format.md)
                newline = data.index(b"\n", offset)
                magic, version, env_len, data_len = data[offset:newline].split(b" ")
                assert magic == b"IMPULSE-SPOOL" and version in (b"1", b"2")
                env_start = newline + 1
                body_start = env_start + int(env_len)
                import json
                envelope = json.loads(data[env_start:body_start - 1])
                body = data[body_start:body_start + int(data_len)]
                trailer_start = body_start + int(data_len)
                end = data.index(b"\n", trailer_start) + 1
                trailer = data[trailer_start:end]
                assert trailer.startswith(f"IMPULSE-END {envelope['id']}".encode())
                if version == b"2":  # CRC-32 of the envelope line and the data (docs/spool-format.md)
                    assert trailer.split()[2].decode() == f"{zlib.crc32(data[env_start:trailer_start]):08x}"
                out[envelope["id"]] = (envelope, body)
                offset = end
        return out


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(body: str = "", **kwargs) -> Impulse:
        directory = tmp_path / f"s{len(servers)}"
        directory.mkdir()
        server = Impulse(directory, body, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture
def relay_server(server_factory):
    """relay_domains = example.test; 127.0.0.1 may not relay elsewhere."""
    server = server_factory('  relay_domains = ( "example.test" )')
    return server.start()


class Raw:
    """A plain socket SMTP client for what smtplib will not send."""

    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET, timeout=10):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buffer = b""

    def send(self, data: bytes | str):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self) -> tuple[int, str]:
        """Reads one (possibly multi-line) reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed; got {lines!r} {self.buffer!r}")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode(errors="replace"))
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), "\n".join(lines)

    def command(self, data) -> tuple[int, str]:
        self.send(data if (isinstance(data, bytes) and data.endswith(b"\r\n")) else (data + "\r\n" if isinstance(data, str) else data))
        return self.reply()

    def closed(self, timeout=5) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


def begin_data(raw, recipient="x@example.test", greeting=True):
    """Greeting (if not read yet), EHLO, MAIL, RCPT and DATA, each expected to succeed."""
    if greeting:
        assert raw.reply()[0] == 220
    assert raw.command("EHLO c")[0] == 250
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.command(f"RCPT TO:<{recipient}>")[0] == 250
    assert raw.command("DATA")[0] == 354


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=impulse.test"], check=True, capture_output=True)
    return cert, key


def client_tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def free_udp_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def dns_answers(port, name, timeout=5.0):
    """True once the name server on 127.0.0.1:port answers a query for `name` (any answer)."""
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(
        bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00\x00\x01\x00\x01"
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                client.sendto(query, ("127.0.0.1", port))
                if client.recv(4096)[:2] == b"\x12\x34":
                    return True
            except OSError:  # not listening yet (connection refused) or no answer yet
                time.sleep(0.05)
    return False


def start_dnsmasq(tmp_path, options, probe_name):
    """dnsmasq on a free loopback port with `options` (its records); returns (process, port) once
    it answers a query for `probe_name`. A port another socket took meanwhile is retried on
    another: a test never runs against a name server that is not there."""
    for _ in range(5):
        port = free_udp_port()
        process = subprocess.Popen([
            "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
            "--listen-address=127.0.0.1", f"--port={port}", "--user=root", f"--pid-file={tmp_path}/dnsmasq.pid",
            "--log-facility=-", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if dns_answers(port, probe_name) and process.poll() is None:
            return process, port
        process.kill()
        process.wait()
    raise RuntimeError("dnsmasq did not start on a loopback port")


@pytest.fixture
def dns_server(tmp_path):
    """dnsmasq on a loopback port with a few records; yields its "127.0.0.1@port"."""
    process, port = start_dnsmasq(tmp_path, [
        "--address=/host.dnstest/192.0.2.10", "--address=/host.dnstest/2001:db8::10",
        "--mx-host=mail.dnstest,mx2.mail.dnstest,20", "--mx-host=mail.dnstest,mx1.mail.dnstest,10",
        "--txt-record=txt.dnstest,v=spf1 -all", "--ptr-record=4.3.2.1.in-addr.arpa,host.dnstest", "--local=/dnstest/",
        "--local-ttl=60"], probe_name="host.dnstest")
    yield f"127.0.0.1@{port}"
    process.terminate()
    process.wait()
