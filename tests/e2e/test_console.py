"""The control listener and `impulse console`, with the real binary on both ends."""
import os
import re
import pty
import select
import smtplib
import stat
import subprocess
import time

from conftest import BIN, Raw
from test_policy import policy_server

POLICY = """
local m = {}
function m:validate_mailfrom(str, accept, vctx)
  if vctx:get(msys.core.VCTX_MESS, "mailfrom_domain") == "refused.test" then vctx:set_code(550, "5.7.1 no") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("m", m)
msys.registerControl("policy echo", function(cc)
  print("argc=" .. cc.argc, "argv0=" .. cc.argv[0], "argv2=" .. tostring(cc.argv[2]), "argv9=" .. tostring(cc.argv[9]))
end)
msys.registerControl("policy fail", function(cc) error("the command failed") end)
"""


def console_server(server_factory, extra_control=""):
    server = policy_server(server_factory, {"m": POLICY})
    server.config.write_text(server.config.read_text()
                             + f'Control_Listener {{\n  Listen "ctl.sock" {{ File_Mode = 0600 }}\n{extra_control}}}\n')
    return server.start()


def console(server, *command, input=None):
    return subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                          capture_output=True, text=True, timeout=30, input=input)


def test_no_control_listener_means_no_socket(server_factory):
    server = policy_server(server_factory, {"m": POLICY}).start()
    assert not list(server.directory.glob("*.sock"))
    result = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), "summary"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "cannot reach" in result.stderr


def test_console_finds_its_socket_by_help_relative_path_and_configuration(server_factory):
    helped = subprocess.run([BIN, "console", "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and "USAGE: impulse console" in helped.stdout and "/tmp/2025" in helped.stdout
    assert "cannot reach" not in helped.stderr
    server = console_server(server_factory)
    # A socket path relative to the current directory, without ./
    relative = subprocess.run([BIN, "console", "--socket", "ctl.sock", "version"], capture_output=True, text=True,
                              timeout=30, cwd=server.directory)
    assert relative.returncode == 0 and relative.stdout.startswith("Impulse version"), relative
    # The configuration's Control_Listener names the socket (its relative path is the config's).
    configured = subprocess.run([BIN, "console", "--config", str(server.config), "version"], capture_output=True,
                                text=True, timeout=30, cwd="/")
    assert configured.returncode == 0 and configured.stdout.startswith("Impulse version"), configured
    plain = policy_server(server_factory, {"m": POLICY})
    missing = subprocess.run([BIN, "console", "--config", str(plain.config), "version"], capture_output=True,
                             text=True, timeout=30)
    assert missing.returncode == 2 and "opens no Control_Listener" in missing.stderr


def test_the_example_configuration_listens_where_the_console_looks():
    from conftest import ROOT
    from_config = subprocess.run([BIN, "check-config", "--config", str(ROOT / "examples" / "ecelerity.conf")],
                                 capture_output=True, text=True, timeout=60)
    assert from_config.returncode == 0, from_config.stderr
    text = (ROOT / "examples" / "ecelerity.conf").read_text()
    assert 'Listen "/tmp/2025" { File_Mode = 0600 }' in text
    helped = subprocess.run([BIN, "console", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "else /tmp/2025" in " ".join(helped.split())


def test_console_commands_and_exit_statuses(server_factory):
    server = console_server(server_factory)
    socket_path = server.directory / "ctl.sock"
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("a@source.test", ["x@example.test", "y@example.test"], "Subject: one\r\n\r\nbody\r\n")
        client.sendmail("b@source.test", ["x@example.test"], "Subject: two\r\n\r\nbody\r\n")
        code, _ = client.mail("c@refused.test")
        assert code == 550
    version = console(server, "version")
    assert version.returncode == 0 and version.stdout.startswith("Impulse version ")
    summary = console(server, "summary")
    assert summary.returncode == 0 and summary.stdout.startswith("Summary Statistics:\n")
    assert "  Total Received: 2 (" in summary.stdout
    assert "  Total Recipients: 3\n" in summary.stdout
    assert "  Total Rejected: 1\n" in summary.stdout
    assert "  Total Connections: 1\n" in summary.stdout
    assert console(server, "summary", "reset").stdout == "statistics cleared.\n"
    assert "  Total Received: 0 (" in console(server, "summary").stdout

    echo = console(server, "policy", "echo", "word")
    assert (echo.returncode, echo.stdout) == (0, "argc=3\targv0=policy\targv2=word\targv9=nil\n")
    failed = console(server, "policy", "fail")
    assert failed.returncode == 1 and "the command failed" in failed.stdout
    unknown = console(server, "frobnicate")
    assert (unknown.returncode, unknown.stdout) == (1, "Unknown command 'frobnicate'. Try 'help'.\n")
    helptext = console(server, "help").stdout
    assert "config reload" in helptext and "policy echo" in helptext
    assert "control listener on" in console(server, "paniclog", "50").stdout

    batch = console(server, input="version\nnonsense\n")
    assert batch.returncode == 1 and "Impulse version" in batch.stdout and "Unknown command" in batch.stdout

    long_line = console(server, "x" * 9000)
    assert long_line.returncode == 1 and "longer than 8192 octets" in long_line.stdout


def test_config_reload_from_the_console_and_failures_keep_the_old_configuration(server_factory):
    server = console_server(server_factory)
    script = server.directory / "m.lua"
    script.write_text(POLICY.replace('"5.7.1 no"', '"5.7.1 reloaded"'))
    reload = console(server, "config", "reload")
    assert (reload.returncode, reload.stdout) == (0, "Configuration reloaded.\n")
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert raw.command("MAIL FROM:<a@refused.test>") == (550, "550 5.7.1 reloaded")
    script.write_text("this is not lua (")
    broken = console(server, "config", "reload")
    assert broken.returncode == 1 and "the running configuration stays" in broken.stdout and "m.lua:1:" in broken.stdout
    raw.command("RSET")
    again = Raw(server.port)
    again.reply()
    again.command("EHLO c")
    assert again.command("MAIL FROM:<a@refused.test>") == (550, "550 5.7.1 reloaded")
    assert "policy echo" in console(server, "help").stdout, "registered commands survive a failed reload"


def test_interactive_console_and_shutdown(server_factory):
    server = console_server(server_factory)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "console", "--socket", str(server.directory / "ctl.sock")])
    output = b""

    def read_until(marker, timeout=15):
        nonlocal output
        deadline = time.time() + timeout
        while marker not in output and time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    output += os.read(fd, 4096)
                except OSError:
                    break
        assert marker in output, output

    read_until(b"> ")
    os.write(fd, b"version\n")
    read_until(b"Impulse version")
    os.write(fd, b"shutdown\n")
    read_until(b"Shutting down")
    os.write(fd, b"quit\n")
    os.waitpid(pid, 0)
    assert server.process.wait(timeout=30) == 0
    assert not (server.directory / "ctl.sock").exists()


def test_control_listener_refuses_addresses_beyond_loopback(server_factory):
    server = policy_server(server_factory, {"m": POLICY})
    server.config.write_text(server.config.read_text() + 'Control_Listener {\n  Listen "0.0.0.0:2025" { }\n}\n')
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "only listens on loopback" in result.stderr + result.stdout


def test_log_levels_per_area_and_commands_going_with_their_script(server_factory):
    server = console_server(server_factory)
    listing = console(server, "log", "level")
    assert listing.returncode == 0 and "default: info" in listing.stdout and "spool: info" in listing.stdout
    assert console(server, "log", "level", "impulseserver", "error").stdout == "impulseserver: error\n"
    assert console(server, "log", "level", "nowhere", "debug").returncode == 1
    assert console(server, "log", "level", "spool", "loud").returncode == 1
    before = server.log.read_text().count("config reload: reading")
    (server.directory / "m.lua").write_text('local m = {}\nfunction m:validate_ehlo() return 0 end\nmsys.registerModule("m", m)\n')
    assert console(server, "config", "reload").returncode == 0
    assert server.log.read_text().count("config reload: reading") == before, "notices of an area set to error are not logged"
    assert "policy echo" not in console(server, "help").stdout, "a command goes away with the script that registered it"
    assert console(server, "log", "level", "impulseserver", "info").returncode == 0
    assert console(server, "config", "reload").returncode == 0
    assert server.log.read_text().count("config reload: reading") == before + 1


def test_queue_inspection_from_the_spool(server_factory):
    server = policy_server(server_factory, {"m": POLICY}, body='  relay_domains = ( "example.test" "other.test" )')
    server.config.write_text(server.config.read_text() + 'Control_Listener {\n  Listen "ctl.sock" { }\n}\n')
    server.start()
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("a@source.test", ["x@example.test"], "Subject: first\r\n\r\nbody one\r\n")
        client.sendmail("b@source.test", ["y@example.test"], "Subject: second\r\n\r\nbody two\r\n")
        client.sendmail("c@source.test", ["z@other.test"], "Subject: third\r\n\r\nbody three\r\n")
    mailq = console(server, "mailq")
    assert mailq.returncode == 0
    lines = mailq.stdout.splitlines()
    assert lines[0].split() == ["Group/Binding", "Domain", "AQ", "DQ"]
    assert lines[2].split() == ["default/default", "example.test", "2", "0"]
    assert lines[3].split() == ["default/default", "other.test", "1", "0"]
    assert len(console(server, "mailq", "-d", "other.test").stdout.splitlines()) == 3
    show = console(server, "showqueue", "example.test").stdout
    ids = re.findall(r"^\[active/default\] (\S+) Created: \d+$", show, re.M)
    assert len(ids) == 2 and "  From: <a@source.test> To: <x@example.test>" in show
    assert console(server, "showqueue", "example.test", "1,1").stdout.count("[active/") == 1
    details = console(server, "message", "details", ids[0])
    assert details.returncode == 0 and f"Message: {ids[0]}" in details.stdout and "Sender: <a@source.test>" in details.stdout
    body = console(server, "message", "details", "body", ids[0]).stdout
    assert "Subject: first" in body and "body one" in body
    assert console(server, "message", "details", "0000000000000-00000000").returncode == 1
    assert console(server, "mailq", "-x", "y").returncode == 1


def test_several_commands_in_one_write_are_answered_in_order(server_factory):
    import socket
    server = console_server(server_factory)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(10)
    client.connect(str(server.directory / "ctl.sock"))
    client.sendall(b"version\nnonsense\nsummary\n")
    data = b""
    while data.count(b"Summary Statistics") == 0 or not data.endswith(b"\n"):
        chunk = client.recv(65536)
        assert chunk, data
        data += chunk
    first, second, third = data.index(b"Impulse version"), data.index(b"Unknown command"), data.index(b"Summary Statistics")
    assert first < second < third
    assert data.startswith(b"OK ") and b"\nERR " in data


def test_a_cross_protocol_request_runs_no_command(server_factory):
    """A browser (or a forged server-side request) posting to the loopback console: its first line
    is an HTTP request line, so the connection closes before the commands in its body run."""
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = console_server(server_factory, extra_control=f'  Listen "127.0.0.1:{port}" {{ }}\n')
    for request in (b"POST /console HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n\r\nshutdown\n",
                    b"Host: 127.0.0.1\r\nshutdown\n", b"summary reset\x1b[0m\nshutdown\n"):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(request)
        assert client.recv(65536) == b"", request
        client.close()
    time.sleep(0.5)
    assert server.process.poll() is None, "shutdown in the request's body did not run"
    result = console(server, "version")
    assert result.returncode == 0 and "Impulse version" in result.stdout
    # A real console client over TCP still works.
    tcp = subprocess.run([BIN, "console", "--socket", f"127.0.0.1:{port}", "summary"], capture_output=True, text=True, timeout=30)
    assert tcp.returncode == 0 and "Summary" in tcp.stdout, tcp.stdout + tcp.stderr


def test_the_control_socket_is_bound_with_its_mode_already_in_the_umask(server_factory):
    """The socket file never exists with the umask's mode, even for a moment: traced with
    strace, the bind(2) that creates it runs under a umask that already clears every bit
    File_Mode does not grant (a chmod(2) afterwards would leave a window)."""
    server = policy_server(server_factory, {"m": POLICY})
    trace = server.directory / "strace.txt"
    server.prefix = ["strace", "-f", "-e", "trace=umask,bind", "-o", str(trace)]
    server.config.write_text(server.config.read_text() + 'Control_Listener {\n  Listen "ctl.sock" { File_Mode = 0660 }\n}\n')
    os.umask(0)
    try:
        server.start()
    finally:
        os.umask(0o022)
    lines = trace.read_text().splitlines()
    [bind] = [i for i, line in enumerate(lines) if "bind(" in line and "ctl.sock" in line]
    masks = [re.search(r"umask\((0\d*)\)", line) for line in lines[:bind]]
    masks = [m.group(1) for m in masks if m]
    assert masks and int(masks[-1], 8) == 0o117, lines[:bind + 1]
    assert stat.S_IMODE(os.stat(server.directory / "ctl.sock").st_mode) == 0o660


def test_log_files_and_the_socket_are_not_world_readable(server_factory):
    server = policy_server(server_factory, {"m": POLICY})
    server.config.write_text(server.config.read_text() + 'ec_logger { mainlog = "mainlog.ec" paniclog = "paniclog.ec" }\n'
                             'Control_Listener {\n  Listen "ctl.sock" { File_Mode = 0600 }\n}\n')
    os.umask(0)
    try:
        server.start()
    finally:
        os.umask(0o022)
    for name in ("mainlog.ec", "paniclog.ec"):
        assert stat.S_IMODE(os.stat(server.directory / name).st_mode) == 0o640, name
    assert stat.S_IMODE(os.stat(server.directory / "ctl.sock").st_mode) == 0o600


def test_config_get_and_eval_from_the_console_and_msys_config(server_factory):
    server = policy_server(server_factory, {"m": POLICY + """
msys.registerControl("policy config", function(cc)
  -- Momentum's manual, msys.config: the value and the console's text.
  local mob, tmob = msys.config("get", "max_outbound_connections");
  local ymob, tymob = msys.config("get", "domain", "yahoo.com", "max_outbound_connections");
  local eval, teval = msys.config("eval", "domain", "yahoo.com", "retry_interval");
  local unset, tunset = msys.config("get", "domain", "yahoo.com", "retry_interval");
  print(tostring(mob) .. "|" .. tostring(ymob) .. "|" .. tostring(eval) .. "|" .. tostring(unset))
  print(tmob .. tymob .. teval .. tunset)
end)
"""})
    server.config.write_text(server.config.read_text()
                             + 'Control_Listener {\n  Listen "ctl.sock" { File_Mode = 0600 }\n}\n'
                             + 'max_outbound_connections = 30\nretry_interval = 120\n'
                             + 'domain "yahoo.com" { max_outbound_connections = 5 }\n')
    server.start()
    assert console(server, "config", "get", "domain", "yahoo.com", "max_outbound_connections").stdout == \
        "max_outbound_connections = 5\n"
    evaluated = console(server, "config", "eval", "domain", "yahoo.com", "retry_interval")
    assert (evaluated.returncode, evaluated.stdout) == (0, "retry_interval = 120\n")
    missing = console(server, "config", "get", "domain", "yahoo.com", "retry_interval")
    assert (missing.returncode, missing.stdout) == (1, "Option 'retry_interval' is not set in scope 'domain \"yahoo.com\"'.\n")
    assert "No such scope 'domain nowhere.test'" in console(server, "config", "get", "domain", "nowhere.test", "x").stdout
    assert console(server, "policy", "config").stdout == (
        "30|5|120|nil\n"
        "max_outbound_connections = 30\nmax_outbound_connections = 5\nretry_interval = 120\n"
        "Option 'retry_interval' is not set in scope 'domain \"yahoo.com\"'.\n\n")
