"""DANE (RFC 7672) end to end: a zone signed with ldns (ldns-keygen, ldns-signzone) and served by
NSD on loopback, validated by Impulse's resolver (libunbound) from a trust anchor in the
configuration; recording sinks with STARTTLS stand for the MX hosts. A host whose TLSA record
matches its certificate gets the mail over TLS (even with `tls = no`); one whose record does not
match is never given it."""
import hashlib
import subprocess
import time

import pytest

from conftest import free_udp_port
from test_delivery import deliver_config, mainlog, send, sinks, wait_until  # noqa: F401 (sinks is a fixture)
from test_outbound_tls import make_ca, make_leaf


def full_chain(directory, leaf, ca):
    """The leaf followed by its CA, as a server presents a chain."""
    chain = directory / f"{leaf[0].stem}-chain.pem"
    chain.write_text(leaf[0].read_text() + ca[0].read_text())
    return chain, leaf[1]


def der_hex(certificate):
    return subprocess.run(["openssl", "x509", "-in", str(certificate), "-outform", "DER"], capture_output=True,
                          check=True).stdout.hex()


def spki_sha256(certificate):
    public = subprocess.run(["openssl", "x509", "-in", str(certificate), "-pubkey", "-noout"], capture_output=True,
                            check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public, capture_output=True,
                         check=True).stdout
    return hashlib.sha256(der).hexdigest()


def signed_zone(directory, records):
    """dane.itest with `records`, signed (ECDSA P-256 KSK and ZSK); returns (zone file, DS)."""
    zone = directory / "dane.itest.zone"
    zone.write_text("$ORIGIN dane.itest.\n$TTL 300\n"
                    "@ IN SOA ns.dane.itest. hostmaster.dane.itest. 1 3600 600 86400 300\n"
                    "@ IN NS ns.dane.itest.\nns IN A 127.0.0.1\n" + "\n".join(records) + "\n")
    keys = []
    for flags in (["-k"], []):
        name = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, "dane.itest"], cwd=directory,
                              capture_output=True, text=True, check=True).stdout.strip()
        keys.append(name)
    subprocess.run(["ldns-signzone", "-f", str(zone) + ".signed", str(zone), *keys], cwd=directory,
                   capture_output=True, check=True)
    ds = (directory / f"{keys[0]}.ds").read_text().split(";")[0].strip()
    return zone.with_suffix(".zone.signed"), " ".join(ds.split())


@pytest.fixture
def dane_setup(tmp_path, sinks):
    ca = make_ca(tmp_path, "DANE Test CA")
    good_cert = make_leaf(tmp_path, ca, "mx.dane.itest")
    other_cert = make_leaf(tmp_path, ca, "other.dane.itest")
    good, wrong = sinks(starttls=good_cert), sinks(starttls=other_cert)
    # DANE-TA: the CA is the trust anchor. ta.dane.itest's MX presents leaf and CA, and the leaf
    # names the MX; tabad.dane.itest's presents a leaf for another name; held.dane.itest's record
    # holds the whole CA certificate and its MX presents the leaf alone.
    ta = sinks(starttls=full_chain(tmp_path, make_leaf(tmp_path, ca, "mx3.dane.itest"), ca))
    ta_misnamed = sinks(starttls=full_chain(tmp_path, other_cert, ca))
    held = sinks(starttls=make_leaf(tmp_path, ca, "mx5.dane.itest"))
    records = [
        "@ IN MX 10 mx.dane.itest.", "mx IN A 127.0.0.1",
        f"_{good.port}._tcp.mx IN TLSA 3 1 1 {spki_sha256(good_cert[0])}",
        # wrong.dane.itest's MX presents a certificate its TLSA record does not name.
        "wrong IN MX 10 mx2.dane.itest.", "mx2 IN A 127.0.0.1",
        f"_{wrong.port}._tcp.mx2 IN TLSA 3 1 1 {spki_sha256(good_cert[0])}",
        "ta IN MX 10 mx3.dane.itest.", "mx3 IN A 127.0.0.1",
        f"_{ta.port}._tcp.mx3 IN TLSA 2 1 1 {spki_sha256(ca[0])}",
        "tabad IN MX 10 mx4.dane.itest.", "mx4 IN A 127.0.0.1",
        f"_{ta_misnamed.port}._tcp.mx4 IN TLSA 2 1 1 {spki_sha256(ca[0])}",
        "held IN MX 10 mx5.dane.itest.", "mx5 IN A 127.0.0.1",
        f"_{held.port}._tcp.mx5 IN TLSA 2 0 0 {der_hex(ca[0])}",
    ]
    signed, ds = signed_zone(tmp_path, records)
    port = free_udp_port()
    config = tmp_path / "nsd.conf"
    config.write_text(f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  zonesdir: "{tmp_path}"
  database: ""
  pidfile: "{tmp_path}/nsd.pid"
  xfrdfile: "{tmp_path}/xfrd.state"
  zonelistfile: "{tmp_path}/zone.list"
  logfile: "{tmp_path}/nsd.log"
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: dane.itest
  zonefile: "{signed}"
""")
    process = subprocess.Popen(["nsd", "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        if (tmp_path / "nsd.log").exists() and "zone dane.itest" in (tmp_path / "nsd.log").read_text():
            break
        time.sleep(0.1)
    time.sleep(0.5)
    yield f"127.0.0.1@{port}", ds, good, wrong, (ta, ta_misnamed, held)
    process.terminate()
    process.wait(timeout=10)


def test_dane_authenticates_next_hops_by_their_tlsa_records(server_factory, dane_setup):
    dns, ds, good, wrong, _ = dane_setup
    server = server_factory(**deliver_config(
        dns, f'use_dane = true\ndnssec_trust_anchors = ( "{ds}" )\n'
             f'domain "dane.itest" {{ remote_smtp_port = {good.port}  tls = no }}\n'
             f'domain "wrong.dane.itest" {{ remote_smtp_port = {wrong.port} }}\nretry_interval = 3600',
        relay=("dane.itest", "wrong.dane.itest", "sender.test"))).start()
    send(server.port, ["a@dane.itest"])
    send(server.port, ["b@wrong.dane.itest"])
    # The TLSA record names the certificate: delivered over TLS although the domain says tls = no.
    assert good.wait_for(1)[0].tls is True
    transient = wait_until(lambda: [line for line in mainlog(server, "T") if line[5] == "wrong.dane.itest"],
                           what="a T line for wrong.dane.itest")
    assert "TLS" in transient[0][13], transient
    assert wrong.messages == []


def test_dane_ta_validates_the_chain_and_the_mx_name(server_factory, dane_setup):
    dns, ds, _, _, (ta, ta_misnamed, held) = dane_setup
    server = server_factory(**deliver_config(
        dns, f'use_dane = true\ndnssec_trust_anchors = ( "{ds}" )\n'
             f'domain "ta.dane.itest" {{ remote_smtp_port = {ta.port} }}\n'
             f'domain "tabad.dane.itest" {{ remote_smtp_port = {ta_misnamed.port} }}\n'
             f'domain "held.dane.itest" {{ remote_smtp_port = {held.port} }}\nretry_interval = 3600',
        relay=("ta.dane.itest", "tabad.dane.itest", "held.dane.itest", "sender.test"))).start()
    send(server.port, ["a@ta.dane.itest"])
    send(server.port, ["b@tabad.dane.itest"])
    send(server.port, ["c@held.dane.itest"])
    assert ta.wait_for(1)[0].tls is True
    assert held.wait_for(1)[0].tls is True
    transient = wait_until(lambda: [line for line in mainlog(server, "T") if line[5] == "tabad.dane.itest"],
                           what="a T line for tabad.dane.itest")
    assert "TLS" in transient[0][13], transient
    assert ta_misnamed.messages == []
    log = server.log.read_text()
    assert "DANE: mx4.dane.itest presented a certificate no TLSA record vouches for" in log
    assert "hostname mismatch" in log
