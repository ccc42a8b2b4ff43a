"""SPF, DMARC and the Authentication-Results field at reception, end to end: real clients
(smtplib) send from 127.0.0.1, the records are served by dnsmasq on loopback, impulse delivers
to a recording sink, and what the sink receives (and what the client was told) is checked.
DKIM signatures in the DMARC cases are made by an independent implementation (dkimpy)."""
import smtplib
import subprocess

import dkim
import pytest

from conftest import BIN, start_dnsmasq
from sink import Sink

SPF = {
    "pass.itest": "v=spf1 ip4:127.0.0.1 -all",
    "fail.itest": "v=spf1 ip4:192.0.2.1 -all",
    "soft.itest": "v=spf1 ~all",
    "neutral.itest": "v=spf1 ?all",
    "perm.itest": "v=spf1 ip4:127.0.0.1 frob:x -all",
    # Eleven look-ups through includes: past RFC 7208's ten, a permerror.
    "many.itest": "v=spf1 " + " ".join(f"include:i{n}.itest" for n in range(11)) + " ip4:127.0.0.1 -all",
    "helo.itest": "v=spf1 ip4:127.0.0.1 -all",
    "dm.itest": "v=spf1 ip4:127.0.0.1 -all",
    "bounce.dm.itest": "v=spf1 ip4:127.0.0.1 -all",
    "st.itest": "v=spf1 ip4:127.0.0.1 -all",
    "bounce.st.itest": "v=spf1 ip4:127.0.0.1 -all",
    "q.itest": "v=spf1 -all",
    "n.itest": "v=spf1 -all",
    "sub.org.itest": "v=spf1 -all",
    "dk.itest": "v=spf1 -all",
}
SPF.update({f"i{n}.itest": "v=spf1 ?all" for n in range(11)})
DMARC = {
    "_dmarc.dm.itest": "v=DMARC1; p=reject",
    "_dmarc.st.itest": "v=DMARC1; p=reject; aspf=s",
    "_dmarc.q.itest": "v=DMARC1; p=quarantine",
    "_dmarc.n.itest": "v=DMARC1; p=none",
    "_dmarc.org.itest": "v=DMARC1; p=none; sp=reject",
    "_dmarc.dk.itest": "v=DMARC1; p=reject; adkim=s",
}


def message(sender_domain, extra=b""):
    return (b"From: Someone <someone@" + sender_domain.encode() + b">\r\nTo: bob@sink.test\r\n"
            b"Subject: sender authentication\r\nMessage-ID: <m@" + sender_domain.encode() + b">\r\n" + extra +
            b"\r\nHello.\r\n")


@pytest.fixture
def dns(tmp_path):
    """dnsmasq with the SPF and DMARC records above, the DKIM key of dk.itest, and a
    temp.itest whose name server refuses to answer."""
    key = tmp_path / "dk.key"
    subprocess.run(["openssl", "genrsa", "-out", key, "1024"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    import base64
    records = dict(SPF, **DMARC)
    records["s1._domainkey.dk.itest"] = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
    options = [f"--txt-record={name},{value}" for name, value in records.items()]
    options += ["--address=/none.itest/192.0.2.7", "--local=/itest/", "--server=/temp.itest/127.0.0.1#9"]
    process, port = start_dnsmasq(tmp_path, options, probe_name="pass.itest")
    yield port, key.read_bytes()
    process.terminate()
    process.wait()


@pytest.fixture
def sink():
    made = Sink()
    yield made
    made.close()


def start(server_factory, sink, port, stanzas, body=""):
    return server_factory(
        body='  relay_domains = ( "sink.test" )\n' + body, deliver=True,
        global_options=f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                       f'dns_nameservers = ( "127.0.0.1@{port}" )\nControl_Listener {{ Listen "ctl.sock" {{ }} }}\n',
        extra=stanzas).start()


def fields(data, name):
    head = data[:data.index(b"\r\n\r\n")].decode()
    return [f for f in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
            if f.lower().startswith(name.lower() + ":")]


def console(server, *command):
    return subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                          capture_output=True, text=True, timeout=30).stdout


CONTEXT_SCRIPT = """
local mod = {}
function mod:validate_data_spool(msg, accept, vctx)
  local function get(key) return vctx:get(msys.core.VCTX_MESS, key) or "-" end
  msg:header("X-Seen", get("spf_status") .. " " .. get("spf_helo_status") .. " " .. get("dmarc_status") .. " "
             .. get("dmarc_policy") .. " " .. get("dmarc_disposition") .. " " .. get("dkim_status"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("seen", mod)
"""


def scriptlet(tmp_path, source):
    script = tmp_path / "seen.lua"
    script.write_text(source)
    return f'scriptlet "scriptlet" {{ script "seen" {{ source = "{script}" }} }}\n'


def test_spf_results_at_mail_from(server_factory, sink, dns, tmp_path):
    port, _ = dns
    stanza = 'spf { authentication_results = true authserv_id = "mx.impulse.itest" }\n'
    server = start(server_factory, sink, port, stanza + scriptlet(tmp_path, CONTEXT_SCRIPT))
    expected = {"pass": "pass", "fail": "fail", "soft": "softfail", "neutral": "neutral", "none": "none",
                "perm": "permerror", "many": "permerror", "temp": "temperror"}
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.ehlo("helo.itest")
        for name in expected:
            client.sendmail(f"someone@{name}.itest", ["bob@sink.test"], message(f"{name}.itest"))
        # A null sender is checked by its HELO identity (RFC 7208 §2.4).
        client.sendmail("", ["bob@sink.test"], message("null.itest"))
    received = sink.wait_for(len(expected) + 1)
    for name, result in expected.items():
        data = next(m.data for m in received if f"<m@{name}.itest>".encode() in m.data)
        assert fields(data, "Authentication-Results") == [
            f"Authentication-Results: mx.impulse.itest; spf={result} smtp.mailfrom=someone@{name}.itest"], data[:400]
        received_spf = fields(data, "Received-SPF")
        assert len(received_spf) == 1 and received_spf[0].startswith(f"Received-SPF: {result} ("), received_spf
        assert "client-ip=127.0.0.1;" in received_spf[0] and f"envelope-from=someone@{name}.itest" in received_spf[0]
        # The HELO identity passes for every message; scripts saw both.
        assert fields(data, "X-Seen") == [f"X-Seen: {result} pass - - - -"], fields(data, "X-Seen")
    null = next(m.data for m in received if b"<m@null.itest>" in m.data)
    assert fields(null, "Authentication-Results") == [
        "Authentication-Results: mx.impulse.itest; spf=pass smtp.helo=helo.itest"]
    stats = console(server, "signing_stats")
    assert "SPF pass: 2\n" in stats and "SPF permerror: 2\n" in stats and "SPF temperror: 1\n" in stats, stats


def test_reject_fail_refuses_the_sender(server_factory, sink, dns):
    port, _ = dns
    server = start(server_factory, sink, port, "spf { reject_fail = true helo = false }\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.itest")
        code, text = client.docmd("MAIL FROM:<someone@fail.itest>")
        assert code == 550 and text.startswith(b"5.7.23"), (code, text)
        code, _ = client.docmd("MAIL FROM:<someone@soft.itest>")
        assert code == 250
        client.rset()
        client.sendmail("someone@pass.itest", ["bob@sink.test"], message("pass.itest"))
    data = sink.wait_for(1)[0].data
    assert fields(data, "Received-SPF")[0].startswith("Received-SPF: pass") and not fields(data, "Authentication-Results")


def dmarc_cases(key):
    signed = dkim.sign(message("dk.itest"), b"s1", b"dk.itest", key, include_headers=[b"from", b"subject"])
    return [
        # (MAIL FROM, message, DMARC result, policy and disposition in Authentication-Results)
        ("someone@dm.itest", message("dm.itest"), "pass", "(p=reject dis=none)"),
        ("bounce@bounce.dm.itest", message("dm.itest", b"X-Case: relaxed\r\n"), "pass", "(p=reject dis=none)"),
        ("bounce@bounce.st.itest", message("st.itest"), "fail", "(p=reject dis=reject)"),
        ("someone@q.itest", message("q.itest"), "fail", "(p=quarantine dis=quarantine)"),
        ("someone@n.itest", message("n.itest"), "fail", "(p=none dis=none)"),
        ("someone@sub.org.itest", message("sub.org.itest"), "fail", "(p=reject dis=reject)"),
        ("someone@dk.itest", signed + message("dk.itest"), "pass", "(p=reject dis=none)"),
        ("someone@none.itest", message("none.itest"), "none", ""),
    ]


def test_dmarc_report_only(server_factory, sink, dns, tmp_path):
    port, key = dns
    stanza = 'dmarc { authentication_results = true authserv_id = "mx.impulse.itest" }\n'
    server = start(server_factory, sink, port, stanza + scriptlet(tmp_path, CONTEXT_SCRIPT))
    cases = dmarc_cases(key)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        for sender, data, _, _ in cases:
            client.sendmail(sender, ["bob@sink.test"], data)
    received = sink.wait_for(len(cases))
    for sender, data, result, policy in cases:
        got = next(m for m in received if m.mail_from == sender)
        results = fields(got.data, "Authentication-Results")
        assert len(results) == 1, results
        from_domain = data.decode().split("From: Someone <someone@", 1)[1].split(">", 1)[0]
        assert f"; dmarc={result} {policy} header.from={from_domain}".replace("  ", " ") in results[0].replace(
            "  ", " "), (sender, results)
        # dmarc alone verifies DKIM and checks SPF (no Received-SPF without the spf stanza).
        assert "dkim=" in results[0] and "spf=" in results[0] and not fields(got.data, "Received-SPF")
        seen = fields(got.data, "X-Seen")[0].split()
        assert seen[3] == result and seen[4] == (policy.split()[0][3:] if policy else "-"), (sender, seen)
    stats = console(server, "signing_stats")
    assert "DMARC pass: 3\n" in stats and "DMARC fail: 4\n" in stats and "DMARC none: 1\n" in stats, stats


def test_dmarc_enforcement_refuses_what_the_domain_asks_to_reject(server_factory, sink, dns):
    port, key = dns
    server = start(server_factory, sink, port, 'dmarc { enforcement = "enforce" }\n')
    accepted = []
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        for sender, data, result, policy in dmarc_cases(key):
            try:
                client.sendmail(sender, ["bob@sink.test"], data)
                accepted.append(sender)
                assert "dis=reject" not in policy
            except smtplib.SMTPDataError as error:
                assert error.smtp_code == 550 and error.smtp_error.startswith(b"5.7.1"), error
                assert "dis=reject" in policy, sender
    assert sorted(accepted) == sorted(["someone@dm.itest", "bounce@bounce.dm.itest", "someone@q.itest",
                                       "someone@n.itest", "someone@dk.itest", "someone@none.itest"])
    assert len(sink.wait_for(6)) == 6
