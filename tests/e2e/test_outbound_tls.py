"""Verified TLS to next hops from the configuration (tls_verify, tls_ca): recording sinks with
STARTTLS present certificates a test CA signed (for the right MX name, for another name) or one
an unknown CA signed; MX records from a real dnsmasq."""
import subprocess

from conftest import BIN
from test_delivery import deliver_config, mainlog, mx_dns, send, sinks, wait_until  # noqa: F401 (fixtures)


def openssl(*arguments):
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def make_ca(directory, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_leaf(directory, ca, name):
    cert, key, request, extensions = (directory / f"{name}.pem", directory / f"{name}.key", directory / f"{name}.csr",
                                      directory / f"{name}.ext")
    extensions.write_text(f"subjectAltName=DNS:{name}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(extensions))
    return cert, key


def test_tls_verify_host_and_ca(server_factory, mx_dns, sinks, tmp_path):
    ca = make_ca(tmp_path, "Impulse Test CA")
    stranger = make_ca(tmp_path, "Unknown CA")
    good = sinks(starttls=make_leaf(tmp_path, ca, "mx.one.itest"))
    misnamed = sinks(starttls=make_leaf(tmp_path, ca, "elsewhere.test"))
    unknown = sinks(starttls=make_leaf(tmp_path, stranger, "nomx.itest"))
    chain_only = sinks(starttls=make_leaf(tmp_path, ca, "another.test"))
    verified = f'tls = required  tls_verify = host  tls_ca = "{ca[0]}"'
    server = server_factory(**deliver_config(
        mx_dns,
        f'domain "one.itest" {{ {verified}  remote_smtp_port = {good.port} }}\n'
        f'domain "two.itest" {{ {verified}  remote_smtp_port = {misnamed.port} }}\n'
        f'domain "nomx.itest" {{ tls = required  tls_verify = ca  tls_ca = "{ca[0]}"  remote_smtp_port = {unknown.port} }}\n'
        f'domain "sink.test" {{ tls = required  tls_verify = ca  tls_ca = "{ca[0]}"  '
        f'gateway = "127.0.0.1:{chain_only.port}" }}\n'
        f'domain "sender.test" {{ gateway = "127.0.0.1:{good.port}" }}\n'
        'retry_interval = 3600'))
    server.start()
    send(server.port, ["a@one.itest", "b@two.itest", "c@nomx.itest", "d@sink.test"])
    # The right name under the CA: delivered over TLS.
    assert good.wait_for(1)[0].tls is True
    # `ca` checks the chain, not the name: delivered.
    assert chain_only.wait_for(1)[0].recipients == ["d@sink.test"]
    transient = wait_until(lambda: len(mainlog(server, "T")) >= 2 and mainlog(server, "T"), what="two T records")
    by_domain = {line[5]: line[13] for line in transient}
    # The wrong name, and a CA Impulse does not trust: the attempt fails temporarily.
    assert "TLS" in by_domain["two.itest"] and "TLS" in by_domain["nomx.itest"], by_domain
    assert misnamed.messages == [] and unknown.messages == []


def test_a_missing_ca_file_is_a_config_error(server_factory, tmp_path):
    server = server_factory(**deliver_config("127.0.0.1@1", 'domain "one.itest" { tls_verify = host  tls_ca = "no.pem" }'))
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"'tls_ca': cannot read '{server.config.parent}/no.pem'" in result.stderr
