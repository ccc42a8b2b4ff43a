"""DKIM signing at reception (the opendkim stanza) end to end: a real client sends, impulse signs
and delivers to a recording sink on loopback, and an independent implementation (dkimpy) verifies
what the sink received."""
import base64
import smtplib
import subprocess
import time

import dkim
import pytest

from conftest import BIN
from sink import Sink

MESSAGE = (b"From: Alice <alice@sender.test>\r\nTo: bob@sink.test\r\nSubject: signed  mail\r\n"
           b"Date: Fri, 04 Dec 2026 18:00:00 +0000\r\nMessage-ID: <m1@sender.test>\r\n\r\n"
           b"Hello.\r\n.leading dot survives dot-stuffing\r\n8-bit: caf\xc3\xa9\r\n\r\n")


@pytest.fixture
def keys(tmp_path):
    """An RSA key at keys/sender.test/s1.key and an Ed25519 key at keys/ed.key, with the TXT
    records that publish them."""
    (tmp_path / "keys" / "sender.test").mkdir(parents=True)
    rsa = tmp_path / "keys" / "sender.test" / "s1.key"
    subprocess.run(["openssl", "genrsa", "-out", rsa, "1024"], check=True, capture_output=True)
    rsa_public = subprocess.run(["openssl", "rsa", "-in", rsa, "-pubout", "-outform", "DER"], check=True,
                                capture_output=True).stdout
    ed = tmp_path / "keys" / "ed.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", ed], check=True, capture_output=True)
    ed_public = subprocess.run(["openssl", "pkey", "-in", ed, "-pubout", "-outform", "DER"], check=True,
                               capture_output=True).stdout
    records = {
        "s1._domainkey.sender.test": b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_public),
        "ed._domainkey.ed.test": b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_public[-32:]),
    }
    records["directory"] = str(tmp_path / "keys")
    return records


@pytest.fixture
def sink():
    made = Sink()
    yield made
    made.close()


def start(server_factory, sink, dkim_stanza, keys, extra="", body="", relay='"sink.test"'):
    dkim_stanza = dkim_stanza.replace('"keys/', f'"{keys["directory"]}/')
    return server_factory(
        body=f'  relay_domains = ( {relay} )\n{body}', deliver=True,
        global_options=f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n{extra}',
        extra=dkim_stanza).start()


STANZA = """opendkim "opendkim1" {
  header_canon = "relaxed"
  body_canon = "relaxed"
  headerlist = ( "from", "to", "subject", "date", "message-id", "x-policy" )
  key = "keys/%{d}/%{s}.key"
  dkim_domain "sender.test" { selector = "s1" }
  dkim_domain "ed.test" { selector = "ed" digest = "ed25519-sha256" key = "keys/ed.key" header_canon = "simple" }
}
"""


def verifies(data, keys):
    lookup = lambda name, timeout=5: keys.get(name.decode().rstrip("."))
    count = data.count(b"DKIM-Signature:")
    try:
        return count > 0 and all(dkim.DKIM(data).verify(idx=i, dnsfunc=lookup) for i in range(count))
    except dkim.ValidationError:
        return False


def test_signed_messages_verify_with_dkimpy(server_factory, sink, keys):
    server = start(server_factory, sink, STANZA, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
        client.sendmail("carol@ed.test", ["bob@sink.test"], MESSAGE.replace(b"alice@sender.test", b"carol@ed.test"))
    received = sink.wait_for(2)
    for message in received:
        # The signature is the first field, above the Received: field impulse adds.
        assert message.data.startswith(b"DKIM-Signature: v=1;"), message.data[:200]
        assert message.data.index(b"\r\nReceived:") < message.data.index(b"\r\nFrom:")
        assert verifies(message.data, keys), message.data[:600]
        # Changing one body octet on the way breaks it: the check above can fail.
        assert not verifies(message.data.replace(b"Hello.", b"Hello!"), keys)
    by_signer = {b"d=sender.test" in m.data: m for m in received}
    assert b"a=rsa-sha256" in by_signer[True].data and b"c=relaxed/relaxed" in by_signer[True].data
    assert b"a=ed25519-sha256" in by_signer[False].data and b"c=simple/relaxed" in by_signer[False].data


def test_the_signature_covers_what_the_policy_changed(server_factory, sink, keys, tmp_path):
    script = tmp_path / "policy.lua"
    script.write_text("""
local mod = {}
function mod:validate_data_spool(msg, accept, vctx)
  msg:header("X-Policy", "added by the policy")
  msg:header("Subject", "rewritten by the policy", "replace")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("rewrite", mod)
""")
    scriptlet = f'scriptlet "scriptlet" {{ script "rewrite" {{ source = "{script}" }} }}\n'
    server = start(server_factory, sink, STANZA + scriptlet, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    data = sink.wait_for(1)[0].data
    assert b"X-Policy: added by the policy" in data and b"Subject: rewritten by the policy" in data
    signature = data[:data.index(b"\r\nReceived:")].replace(b"\r\n\t", b"").replace(b"\r\n ", b"")
    assert b"x-policy" in signature.lower()
    assert verifies(data, keys)


def test_what_is_not_signed(server_factory, sink, keys):
    # No dkim_domain for other.test and no selector in the stanza; opendkim_sign = false for a
    # second destination; sign_condition not met for a third.
    stanza = STANZA.replace('dkim_domain "ed.test"', 'dkim_domain "cond.test" { selector = "s1" '
                            'key = "keys/sender.test/s1.key" sign_condition = "can_relay" }\n  dkim_domain "ed.test"')
    server = start(server_factory, sink, stanza, keys,
                   extra=f'domain "nosign.test" {{ gateway = "127.0.0.1:{sink.port}" opendkim_sign = false }}\n',
                   relay='"sink.test" "nosign.test"')
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("x@other.test", ["bob@sink.test"], MESSAGE.replace(b"alice@sender.test", b"x@other.test"))
        client.sendmail("alice@sender.test", ["bob@nosign.test"], MESSAGE)
        client.sendmail("c@cond.test", ["bob@sink.test"], MESSAGE.replace(b"alice@sender.test", b"c@cond.test"))
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    received = sink.wait_for(4)
    signed = sorted((m.mail_from, m.recipients[0], b"DKIM-Signature" in m.data) for m in received)
    assert signed == [("alice@sender.test", "bob@nosign.test", False), ("alice@sender.test", "bob@sink.test", True),
                      ("c@cond.test", "bob@sink.test", False), ("x@other.test", "bob@sink.test", False)]


def test_sign_condition_met_by_a_relaying_client(server_factory, sink, keys):
    stanza = STANZA.replace('dkim_domain "sender.test" { selector = "s1" }',
                            'dkim_domain "sender.test" { selector = "s1" sign_condition = "can_relay" }')
    server = start(server_factory, sink, stanza, keys, body='  relay_hosts = ( "127.0.0.0/8" )\n')
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    assert verifies(sink.wait_for(1)[0].data, keys)


def test_a_key_that_cannot_be_loaded_at_signing_time(server_factory, sink, keys):
    # A stanza-level selector signs every domain with keys/<domain>/s1.key: there is none for
    # nokey.test. By default the message goes out unsigned, logged; with tempfail the client is
    # told to try later and nothing is spooled.
    stanza = STANZA.replace('  key = "keys/%{d}/%{s}.key"', '  key = "keys/%{d}/%{s}.key"\n  selector = "s1"')
    nokey = MESSAGE.replace(b"alice@sender.test", b"dave@nokey.test")
    server = start(server_factory, sink, stanza, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("dave@nokey.test", ["bob@sink.test"], nokey)
    data = sink.wait_for(1)[0].data
    assert b"DKIM-Signature" not in data
    log = server.log.read_text()
    assert "DKIM signing for nokey.test failed" in log and "keys/nokey.test/s1.key" in log
    server.stop()

    strict = stanza.replace('opendkim "opendkim1" {', 'opendkim "opendkim1" {\n  signing_failure = "tempfail"')
    before = len(sink.messages)
    server = start(server_factory, sink, strict, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("dave@nokey.test", ["bob@sink.test"], nokey)
        assert refused.value.smtp_code == 451
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    time.sleep(0.5)
    assert len(sink.wait_for(before + 1)) == before + 1
    assert verifies(sink.messages[-1].data, keys)
    server.stop()

    # The same with verification on (the message carries no signature: nothing is looked up).
    both = strict.replace('signing_failure = "tempfail"', 'signing_failure = "tempfail"\n  authentication_results = true')
    server = start(server_factory, sink, both, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("dave@nokey.test", ["bob@sink.test"], nokey)
        assert refused.value.smtp_code == 451
    time.sleep(0.5)
    assert len(sink.messages) == before + 1


def test_unusable_keys_are_configuration_errors_with_their_location(tmp_path, keys):
    (tmp_path / "keys" / "broken.key").write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    config = tmp_path / "ecelerity.conf"
    head = 'hostname = "impulse.test"\nspoolbase = "spool"\nESMTP_Listener { Listen "127.0.0.1:0" { } }\n'
    config.write_text(head + 'opendkim "o" {\n  dkim_domain "d.test" { key = "keys/ed.key" }\n}\n')
    result = subprocess.run([BIN, "check-config", "--config", str(config)], capture_output=True, text=True)
    assert result.returncode != 0 and f'{config}:5:3: error: dkim_domain "d.test" has no selector' in result.stderr
    # Every key is read and checked when the configuration loads; each bad one is reported where it is named.
    config.write_text(head + 'opendkim "o" {\n  dkim_domain "a.test" {\n    selector = "s"\n    key = "keys/broken.key"\n  }\n'
                      '  dkim_domain "b.test" { selector = "s" key = "keys/missing.key" }\n'
                      '  dkim_domain "c.test" { selector = "s" key = "keys/sender.test/s1.key" digest = "ed25519-sha256" }\n'
                      '  dkim_domain "e.test" { selector = "s" key = "keys/ed.key" }\n}\n')
    result = subprocess.run([BIN, "check-config", "--config", str(config)], capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{config}:7:11" in result.stderr and "broken.key" in result.stderr and "cannot sign" in result.stderr
    assert f"{config}:9:47" in result.stderr and "missing.key" in result.stderr
    assert "c.test" in result.stderr and "digest ed25519-sha256 does not fit" in result.stderr
    assert "e.test" not in result.stderr


def test_scripts_sign_with_msys_validate_opendkim(server_factory, sink, keys, tmp_path):
    # Momentum's manual example, in core_final_validation: options over the stanza's defaults
    # (here the stanza gives only the canonicalisations; the script everything else).
    script = tmp_path / "sign.lua"
    script.write_text(f"""
require("msys.core")
require("opendkim.dkim")
require("msys.validate.opendkim")
require("msys.extended.message")
local mod = {{}}
function mod:core_final_validation(msg, accept, vctx)
  local options = {{}}
  options["base_domain"] = "sender.test"
  options["selector"] = "s1"
  options["keyfile"] = "{keys['directory']}/%{{d}}/%{{s}}.key"
  options["identity"] = "@sender.test"
  options["headerlist"] = "from:subject:date"
  local status, err = msys.validate.opendkim.sign(msg, vctx, options)
  if status ~= msys.validate.opendkim.DKIM_STAT_OK then
    vctx:set_code(451, "signing failed: " .. tostring(err))
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("signer", mod)
""")
    stanza = 'opendkim "o" {\n  header_canon = "relaxed"\n  body_canon = "relaxed"\n}\n'
    scriptlet = f'scriptlet "scriptlet" {{ script "sign" {{ source = "{script}" }} }}\n'
    server = start(server_factory, sink, stanza + scriptlet, keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    data = sink.wait_for(1)[0].data
    # Received: (added at the spool write) stands above the script's signature.
    assert data.startswith(b"Received:") and b"\r\nDKIM-Signature: v=1;" in data
    signature = data[data.index(b"DKIM-Signature"):data.index(b"\r\nFrom:")].replace(b"\r\n\t", b"")
    assert b"c=relaxed/relaxed" in signature and b"i=@sender.test" in signature
    assert b"h=from:subject:date" in signature.lower().replace(b" ", b"")
    assert verifies(data, keys)

    # A key rotated at the same path is read again after a reload (scripts' keys belong to one
    # configuration): the next message verifies with the new public key only.
    import signal
    key = f"{keys['directory']}/sender.test/s1.key"
    subprocess.run(["openssl", "genrsa", "-out", key, "1024"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    before = server.log.read_text().count("now serve new sessions")
    server.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while server.log.read_text().count("now serve new sessions") == before:
        assert time.time() < deadline, server.log.read_text()[-2000:]
        time.sleep(0.05)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    rotated = sink.wait_for(2)[1].data
    assert verifies(rotated, {"s1._domainkey.sender.test": b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)})
    assert not verifies(rotated, keys)


def verifying_server(server_factory, dns_port, script):
    """A server that resolves through the loopback name server and runs `script`, whose
    validate_data refuses every message with its verdict as the reply text."""
    return server_factory(body='  relay_domains = ( "sink.test" )',
                          global_options=f'dns_nameservers = ( "127.0.0.1@{dns_port}" )',
                          extra=f'scriptlet "scriptlet" {{ script "v" {{ source = "{script}" }} }}\n').start()


def refusal(server, message):
    """The reply text a verifying server refuses `message` with."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("alice@sender.itest", ["bob@sink.test"], message)
    return refused.value.smtp_error.decode().removeprefix("5.0.0 ")


def test_scripts_verify_with_msys_validate_opendkim(server_factory, keys, tmp_path):
    """Signatures made by dkimpy are verified, their keys looked up in a real DNS server."""
    from conftest import start_dnsmasq
    txt = {name.replace(".test", ".itest"): value for name, value in keys.items() if name != "directory"}
    records = [f"--txt-record={name},{value.decode()}" for name, value in txt.items()]
    dns, port = start_dnsmasq(tmp_path, records + ["--local=/itest/"], probe_name="s1._domainkey.sender.itest")
    script = tmp_path / "verify.lua"
    script.write_text("""
require("msys.validate.opendkim")
local dkim = msys.validate.opendkim
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local handle, status = dkim.verify(msg)
  local num, stat = dkim.get_num_sigs(handle)
  local report = { "status=" .. status, "num=" .. num }
  for i = 0, num - 1 do
    local sig = dkim.get_sig(handle, i)
    local hcanon, bcanon = dkim.get_sig_canons(sig)
    report[#report + 1] = table.concat({ dkim.get_sig_domain(sig), dkim.get_sig_selector(sig),
      dkim.get_sig_keysize(sig), dkim.get_sig_signalg(sig), hcanon .. "/" .. bcanon, dkim.get_sig_result(sig),
      tostring(dkim.get_sig_hdrsigned(sig, "Subject")), tostring(dkim.get_sig_hdrsigned(sig, "X-Other")),
      tostring(dkim.get_sig_flags(sig) % 8 >= 4) }, ",")
  end
  vctx:set_code(550, table.concat(report, " "))
  return msys.core.VALIDATE_DONE
end
msys.registerModule("verifier", mod)
""")
    server = verifying_server(server_factory, port, script)
    rsa_key = f"{keys['directory']}/sender.test/s1.key"
    plain = MESSAGE.replace(b"sender.test", b"sender.itest")

    def signed(key, selector, domain, algorithm=b"rsa-sha256", canon=(b"relaxed", b"simple")):
        secret = open(key, "rb").read()
        if algorithm == b"ed25519-sha256":
            der = subprocess.run(["openssl", "pkey", "-in", key, "-outform", "DER"], capture_output=True, check=True).stdout
            secret = base64.b64encode(der[-32:])
        return dkim.sign(plain, selector, domain, secret, canonicalize=canon, signature_algorithm=algorithm,
                         include_headers=[b"from", b"subject", b"date"]) + plain

    def verdict(message):
        return refusal(server, message)

    try:
        good = verdict(signed(rsa_key, b"s1", b"sender.itest"))
        assert good == "status=0 num=1 sender.itest,s1,1024,1,1/0,pass,true,false,true", good
        ed = verdict(signed(f"{keys['directory']}/ed.key", b"ed", b"ed.itest", b"ed25519-sha256", (b"simple", b"simple")))
        assert ed == "status=0 num=1 ed.itest,ed,256,2,0/0,pass,true,false,true", ed
        tampered = verdict(signed(rsa_key, b"s1", b"sender.itest").replace(b"Hello.", b"Hello!"))
        # libopendkim's DKIM_SIGFLAG_PASSED is about the signature over the header fields; the body
        # hash that no longer matches makes the result a failure.
        assert tampered == "status=1 num=1 sender.itest,s1,1024,1,1/0,fail,true,false,true", tampered
        unknown = verdict(signed(rsa_key, b"nosuch", b"sender.itest"))
        assert "num=1 sender.itest,nosuch,0,1,1/0,permerror," in unknown, unknown
        unsigned = verdict(plain)
        assert unsigned == "status=2 num=0", unsigned
    finally:
        dns.terminate()
        dns.wait()


def test_authentication_results_for_received_signatures(server_factory, sink, keys, tmp_path):
    from conftest import start_dnsmasq
    txt = {name.replace(".test", ".itest"): value for name, value in keys.items() if name != "directory"}
    dns, port = start_dnsmasq(tmp_path, [f"--txt-record={n},{v.decode()}" for n, v in txt.items()] + ["--local=/itest/"],
                              probe_name="s1._domainkey.sender.itest")
    stanza = STANZA.replace('opendkim "opendkim1" {', 'opendkim "opendkim1" {\n  authentication_results = true\n'
                            '  authserv_id = "mx.impulse.test"')
    try:
        server = start(server_factory, sink, stanza, keys, extra=f'dns_nameservers = ( "127.0.0.1@{port}" )\n'
                       'Control_Listener { Listen "ctl.sock" { } }\n')
        plain = MESSAGE.replace(b"sender.test", b"sender.itest")
        secret = open(f"{keys['directory']}/sender.test/s1.key", "rb").read()
        signed = dkim.sign(plain, b"s1", b"sender.itest", secret, include_headers=[b"from", b"subject"]) + plain
        forged = (b"Authentication-Results: MX.impulse.test; dkim=pass header.d=bank.example\r\n"
                  b"Authentication-Results: other.example;\r\n dkim=pass header.d=x.example\r\n")
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("alice@sender.itest", ["bob@sink.test"], forged + signed)
            client.sendmail("alice@sender.itest", ["bob@sink.test"], signed.replace(b"Hello.", b"Hello!"))
            client.sendmail("alice@sender.itest", ["bob@sink.test"], plain)
            client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
        received = sink.wait_for(4)

        def results(data):
            head = data[:data.index(b"\r\n\r\n")].decode()
            return [f for f in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
                    if f.lower().startswith("authentication-results:")]

        good = next(m for m in received if b"other.example" in m.data)
        bad = next(m for m in received if b"Hello!" in m.data)
        ours = next(m for m in received if b"<alice@sender.test>" in m.data)
        unsigned = next(m for m in received if m not in (good, bad, ours))
        assert results(good.data) == [
            "Authentication-Results: mx.impulse.test; dkim=pass header.d=sender.itest header.s=s1 "
            "header.i=@sender.itest header.a=rsa-sha256",
            "Authentication-Results: other.example; dkim=pass header.d=x.example"], results(good.data)
        assert b"bank.example" not in good.data
        assert results(bad.data)[0].startswith("Authentication-Results: mx.impulse.test; dkim=fail")
        assert results(unsigned.data) == ["Authentication-Results: mx.impulse.test; dkim=none"]
        # Our own signature comes first, over the Authentication-Results field, and verifies.
        assert ours.data.startswith(b"DKIM-Signature:") and verifies(ours.data, keys)
        assert results(ours.data) == ["Authentication-Results: mx.impulse.test; dkim=none"]

        def console(*command):
            return subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), *command],
                                  capture_output=True, text=True, timeout=30).stdout
        stats = console("signing_stats")
        assert "Global {\n    DKIM Signed: 1\n    DKIM Failed: 0" in stats, stats
        assert "Domain sender.test {\n    DKIM Signed: 1" in stats and "Binding default {\n    DKIM Signed: 1" in stats
        assert "DKIM fail: 1\n" in stats and "DKIM none: 2\n" in stats and "DKIM pass: 1\n" in stats, stats
        assert "Signing Statistics are reset" in console("signing_stats", "reset")
        assert "DKIM Signed: 0" in console("signing_stats") and "Domain" not in console("signing_stats")
    finally:
        dns.terminate()
        dns.wait()


def test_reload_swaps_keys_and_keeps_the_running_ones_on_errors(server_factory, sink, keys):
    import signal
    server = start(server_factory, sink, STANZA, keys)
    key = server.directory / "rotated.key"

    def reload_and_wait(marker):
        before = server.log.read_text().count(marker)
        server.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while server.log.read_text().count(marker) == before:
            assert time.time() < deadline, server.log.read_text()[-2000:]
            time.sleep(0.05)

    def send_and_signature():
        count = len(sink.messages)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
        data = sink.wait_for(count + 1)[-1].data
        return data[:data.index(b"\r\nReceived:")].replace(b"\r\n\t", b"")

    assert b"s=s1;" in send_and_signature()
    # A rotation to a key that cannot be read: the reload fails at the line, the old key signs on.
    config = server.config.read_text()
    server.config.write_text(config.replace('dkim_domain "sender.test" { selector = "s1" }',
                                            f'dkim_domain "sender.test" {{ selector = "s2" key = "{key}" }}'))
    reload_and_wait("config reload failed")
    assert "rotated.key" in server.log.read_text().split("config reload failed")[-1]
    assert b"s=s1;" in send_and_signature()
    # The key is there now: the next reload takes it, and the new selector signs.
    subprocess.run(["openssl", "genrsa", "-out", key, "1024"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    reload_and_wait("now serve new sessions")
    signature = send_and_signature()
    assert b"s=s2;" in signature
    assert verifies(sink.messages[-1].data,
                    {"s2._domainkey.sender.test": b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)})


def test_several_selectors_sign_with_rsa_and_ed25519(server_factory, sink, keys):
    directory = f"{keys['directory']}/dual.test"
    subprocess.run(["mkdir", "-p", directory], check=True)
    subprocess.run(["openssl", "genrsa", "-out", f"{directory}/r1.key", "1024"], check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", f"{directory}/e1.key"], check=True,
                   capture_output=True)
    rsa = subprocess.run(["openssl", "rsa", "-in", f"{directory}/r1.key", "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    ed = subprocess.run(["openssl", "pkey", "-in", f"{directory}/e1.key", "-pubout", "-outform", "DER"], check=True,
                        capture_output=True).stdout
    stanza = STANZA.replace('dkim_domain "ed.test"', 'dkim_domain "dual.test" { selector = ( "r1" "e1" ) }\n  dkim_domain "ed.test"')
    server = start(server_factory, sink, stanza, keys, extra="Control_Listener { Listen \"ctl.sock\" { } }\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("d@dual.test", ["bob@sink.test"], MESSAGE.replace(b"alice@sender.test", b"d@dual.test"))
    data = sink.wait_for(1)[0].data
    head = data[:data.index(b"\r\nReceived:")].replace(b"\r\n\t", b"")
    assert head.count(b"DKIM-Signature:") == 2, head
    assert head.index(b"s=r1;") < head.index(b"s=e1;") and b"a=ed25519-sha256" in head and b"a=rsa-sha256" in head
    records = {"r1._domainkey.dual.test": b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa),
               "e1._domainkey.dual.test": b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed[-32:])}
    assert verifies(data, records)
    stats = subprocess.run([BIN, "console", "--socket", str(server.directory / "ctl.sock"), "signing_stats"],
                           capture_output=True, text=True, timeout=30).stdout
    assert "Domain dual.test {\n    DKIM Signed: 2" in stats, stats


def test_a_script_key_that_cannot_sign_is_a_lua_error_naming_the_script(server_factory, sink, keys, tmp_path):
    script = tmp_path / "badkey.lua"
    script.write_text("""require("msys.validate.opendkim")
local mod = {}
function mod:core_final_validation(msg, accept, vctx)
  msys.validate.opendkim.sign(msg, vctx, { selector = "s1", keyfile = "/nonexistent/s1.key" })
  return msys.core.VALIDATE_CONT
end
msys.registerModule("badkey", mod)
""")
    server = start(server_factory, sink, f'scriptlet "scriptlet" {{ script "badkey" {{ source = "{script}" }} }}\n', keys)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("alice@sender.test", ["bob@sink.test"], MESSAGE)
    # Not lost: refused with a temporary error, the client keeps it.
    assert refused.value.smtp_code // 100 == 4, refused.value
    log = server.log.read_text()
    assert "badkey.lua:4:" in log and "/nonexistent/s1.key" in log, log[-2000:]
    assert sink.messages == []


def test_bad_signatures_keys_and_key_records_get_clear_results(server_factory, keys, tmp_path):
    """Malformed and oversized signatures, many signatures, keys below 1024 bits and key records
    that are not keys: each signature gets a result that is no pass, the session goes on, and
    the server stays up."""
    from conftest import start_dnsmasq
    short = tmp_path / "short.key"
    subprocess.run(["openssl", "genrsa", "-out", short, "512"], check=True, capture_output=True)
    short_public = subprocess.run(["openssl", "rsa", "-in", short, "-pubout", "-outform", "DER"], check=True,
                                  capture_output=True).stdout
    records = {
        "s1._domainkey.sender.itest": keys["s1._domainkey.sender.test"].decode(),
        "short._domainkey.sender.itest": "v=DKIM1; k=rsa; p=" + base64.b64encode(short_public).decode(),
        "garbage._domainkey.sender.itest": "v=DKIM1; k=rsa; p=!!!not-base64!!!",
        "long._domainkey.sender.itest": "v=DKIM1; k=rsa; p=" + "A" * 2000,
    }
    options = [f"--txt-record={n}," + ",".join(v[i:i + 250] for i in range(0, len(v), 250)) for n, v in records.items()]
    dns, port = start_dnsmasq(tmp_path, options + ["--local=/itest/"], probe_name="s1._domainkey.sender.itest")
    script = tmp_path / "verify.lua"
    script.write_text("""
local dkim = require("msys.validate.opendkim")
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local handle, status = dkim.verify(msg)
  local num = dkim.get_num_sigs(handle)
  local results = {}
  for i = 0, num - 1 do results[#results + 1] = dkim.get_sig_result(dkim.get_sig(handle, i)) end
  vctx:set_code(550, "status=" .. status .. " num=" .. num .. " " .. table.concat(results, ","))
  return msys.core.VALIDATE_DONE
end
msys.registerModule("verifier", mod)
""")
    server = verifying_server(server_factory, port, script)
    plain = MESSAGE.replace(b"sender.test", b"sender.itest")
    rsa_key = open(f"{keys['directory']}/sender.test/s1.key", "rb").read()

    def signed(selector, key):
        return dkim.sign(plain, selector, b"sender.itest", key, include_headers=[b"from", b"subject"]) + plain

    def verdict(message):
        return refusal(server, message)

    good = signed(b"s1", rsa_key)
    try:
        # dkimpy refuses to sign with a key under 1024 bits; the signature is made by hand-over:
        # signing with the good key and pointing s= at the short key's record gives a signature
        # whose key is too short to be trusted whatever it says.
        too_short = good.replace(b"s=s1;", b"s=short;", 1)
        assert verdict(too_short).endswith(" num=1 permerror") or verdict(too_short).endswith(" num=1 fail")
        for selector in (b"garbage", b"long"):
            result = verdict(good.replace(b"s=s1;", b"s=" + selector + b";", 1))
            assert result.split(" num=1 ")[1] in ("permerror", "fail"), (selector, result)
        malformed = b"DKIM-Signature: v=1; a=rsa-sha256; d=; s=; b=;; bh\r\n" + plain
        # libopendkim cannot read it as a signature at all: DKIM_STAT_SYNTAX, none reported.
        assert verdict(malformed) == "status=5 num=0", verdict(malformed)
        # A 20 KB signature field, folded into lines of 70 octets.
        huge_b = b"\r\n\t".join([b"A" * 70] * 290)
        huge = b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.itest; s=s1; h=from; bh=AAAA; b=" + huge_b + b"\r\n" + plain
        assert verdict(huge).split(" num=1 ")[1] in ("permerror", "fail"), verdict(huge)[:200]
        # Forty signatures: five are checked, the others reported unchecked; still one answer.
        signature = good[:good.index(b"From:")]
        many = verdict(signature * 40 + plain)
        assert many.startswith("status=0 num="), many
        results = many.split(" ", 2)[2].split(",")
        assert results[:5] == ["pass"] * 5 and "pass" not in results[5:] and len(results) <= 32, many
        # The good message still verifies afterwards: nothing above hurt the server.
        assert verdict(good) == "status=0 num=1 pass"
    finally:
        dns.terminate()
        dns.wait()


def test_messages_injected_over_http_are_signed_and_delivered(server_factory, sink, keys):
    """The HTTP injection API (docs/http-api.md) goes through the same signing as SMTP."""
    import json
    import re
    import urllib.request
    stanza = STANZA.replace('"keys/', f'"{keys["directory"]}/')
    server = server_factory(
        body='  relay_domains = ( "sink.test" )', deliver=True,
        global_options=f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n',
        extra=stanza + 'HTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n').start()
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    body = {"recipients": [{"address": "bob@sink.test", "substitution_data": {"n": "Bob"}}, "eve@sink.test"],
            "content": {"from": {"email": "alice@sender.test", "name": "Alice"}, "subject": "Hi {{n}}",
                        "text": "Hello {{n}}, café.\n"}}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/transmissions",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    received = sink.wait_for(2)
    for message in received:
        assert message.data.startswith(b"DKIM-Signature: v=1;"), message.data[:200]
        assert b"d=sender.test" in message.data
        assert verifies(message.data, keys), message.data[:800]
        assert not verifies(message.data.replace(b"Subject: Hi", b"Subject: Ho"), keys)
    assert sorted(m.recipients[0] for m in received) == ["bob@sink.test", "eve@sink.test"]
