"""MTA-STS (RFC 8461) end to end: dnsmasq serves the MX and `_mta-sts` TXT records, a local HTTPS
server (Python's, with a certificate a test CA signed) serves the policies, and recording sinks
with STARTTLS stand for the MX hosts. Enforced policies restrict delivery to the MX hosts they
name over verified TLS; testing policies change nothing; the TLS-RPT counts and the cache show in
the console."""
import http.server
import ssl
import subprocess
import threading

import pytest

from conftest import BIN, start_dnsmasq
from test_delivery import deliver_config, mainlog, send, sinks, wait_until  # noqa: F401 (sinks is a fixture)
from test_outbound_tls import make_ca, make_leaf

POLICIES = {
    "mta-sts.sts.itest": "version: STSv1\nmode: enforce\nmx: mx.sts.itest\nmx: *.backup.itest\nmax_age: 86400\n",
    "mta-sts.wrong.itest": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.itest\nmax_age: 86400\n",
    "mta-sts.plain.itest": "version: STSv1\nmode: enforce\nmx: mx.plain.itest\nmax_age: 86400\n",
    "mta-sts.trial.itest": "version: STSv1\nmode: testing\nmx: mx.elsewhere.itest\nmax_age: 86400\n",
}


@pytest.fixture
def sts_dns(tmp_path):
    records = []
    for domain in ("sts", "wrong", "plain", "trial"):
        records += [f"--mx-host={domain}.itest,mx.{domain}.itest,10", f"--host-record=mx.{domain}.itest,127.0.0.1",
                    f"--txt-record=_mta-sts.{domain}.itest,v=STSv1; id=2026120501",
                    f"--host-record=mta-sts.{domain}.itest,127.0.0.1"]
    process, port = start_dnsmasq(tmp_path, records + ["--local=/itest/"], probe_name="sts.itest")
    yield f"127.0.0.1@{port}"
    process.terminate()
    process.wait()


@pytest.fixture
def policy_server(tmp_path):
    """An HTTPS server for every mta-sts.* name, answering each Host with its policy."""
    ca = make_ca(tmp_path, "STS Test CA")
    extensions = tmp_path / "policy.ext"
    names = ",".join(f"DNS:{name}" for name in POLICIES)
    cert, key = make_leaf(tmp_path, ca, "mta-sts.sts.itest")
    # One certificate naming every policy host.
    extensions.write_text(f"subjectAltName={names}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(tmp_path / "mta-sts.sts.itest.csr"), "-CA", str(ca[0]),
                    "-CAkey", str(ca[1]), "-CAcreateserial", "-out", str(cert), "-days", "2",
                    "-extfile", str(extensions)], check=True, capture_output=True)
    fetched = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0]
            fetched.append((host, self.path))
            body = POLICIES.get(host)
            if self.path != "/.well-known/mta-sts.txt" or body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ca, fetched
    server.shutdown()


def console(server, *words):
    return subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *words],
                          capture_output=True, text=True, timeout=30).stdout


def test_mta_sts_policies_are_fetched_cached_and_enforced(server_factory, sts_dns, policy_server, sinks, tmp_path):
    https_port, ca, fetched = policy_server
    good = sinks(starttls=make_leaf(tmp_path, ca, "mx.sts.itest"))
    wrong = sinks(starttls=make_leaf(tmp_path, ca, "mx.wrong.itest"))
    plain = sinks()
    trial = sinks()
    domains = (f'domain "sts.itest" {{ remote_smtp_port = {good.port}  tls = no  tls_ca = "{ca[0]}" }}\n'
               f'domain "wrong.itest" {{ remote_smtp_port = {wrong.port} }}\n'
               f'domain "plain.itest" {{ remote_smtp_port = {plain.port} }}\n'
               f'domain "trial.itest" {{ remote_smtp_port = {trial.port} }}\n'
               f'use_mta_sts = true\nmta_sts_https_port = {https_port}\nmta_sts_ca = "{ca[0]}"\n'
               'retry_interval = 3600\nControl_Listener {\n  Listen "ctl.sock" { }\n}\n')
    server = server_factory(**deliver_config(
        sts_dns, domains, relay=("sts.itest", "wrong.itest", "plain.itest", "trial.itest", "sender.test"))).start()
    send(server.port, ["a@sts.itest"])
    send(server.port, ["b@wrong.itest"])
    send(server.port, ["c@plain.itest"])
    send(server.port, ["d@trial.itest"])
    # Enforced: over verified TLS although this domain says tls = no.
    assert good.wait_for(1)[0].tls is True
    # Testing mode: delivered as usual, though its MX is not one the policy names.
    assert trial.wait_for(1)[0].recipients == ["d@trial.itest"]
    transient = wait_until(lambda: len(mainlog(server, "T")) >= 2 and mainlog(server, "T"), what="two T lines")
    reasons = {line[5]: line[13] for line in transient}
    assert reasons["wrong.itest"].startswith("451 4.7.5 MTA-STS: no MX host of wrong.itest is one its policy names")
    assert "does not offer STARTTLS" in reasons["plain.itest"]
    assert wrong.messages == [] and plain.messages == []
    assert ("mta-sts.sts.itest", "/.well-known/mta-sts.txt") in fetched
    # The cache and the TLS-RPT counts.
    listing = console(server, "mta_sts", "list", "all")
    assert "sts.itest\n" in listing and "Total domains: 4" in listing
    shown = console(server, "mta_sts", "show", "domain", "sts.itest")
    assert "Mode: enforce\nMX: mx.sts.itest\nMX: *.backup.itest\n" in shown
    assert "TLS-RPT successful sessions: 1" in shown
    assert "TLS-RPT failed sessions (starttls-not-supported): 1" in console(
        server, "mta_sts", "show", "domain", "plain.itest")
    assert (server.directory / "spool" / "mtasts" / "sts.itest").exists()
    # Cached: the next message does not fetch the policy again.
    count = len(fetched)
    send(server.port, ["e@sts.itest"])
    good.wait_for(2)
    assert len(fetched) == count
    assert console(server, "mta_sts", "refresh", "policy", "sts.itest") == "MTA-STS policy for sts.itest refreshed.\n"
