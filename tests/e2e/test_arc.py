"""ARC (RFC 8617) from scripts end to end: msys.validate.openarc.verify validates chains sealed by an
independent implementation (dkimpy), and the sets msys.validate.openarc.sign adds validate with
dkimpy after relay to a recording sink. Keys are published by dnsmasq on loopback."""
import base64
import re
import smtplib
import subprocess

import dkim
import pytest

from conftest import start_dnsmasq
from sink import Sink

MESSAGE = (b"From: Alice <alice@origin.itest>\r\nTo: list@forwarder.itest\r\nSubject: arc  test\r\n"
           b"Date: Sat, 05 Dec 2026 03:00:00 +0000\r\nMessage-ID: <arc1@origin.itest>\r\n"
           b"Authentication-Results: origin.itest; spf=pass smtp.mailfrom=alice@origin.itest\r\n\r\n"
           b"Hello.\r\n.leading dot\r\n  spaced   line  \r\n8-bit: caf\xc3\xa9\r\n\r\n\r\n")

SCRIPT = """
require("msys.validate.openarc")
local arc = msys.validate.openarc
local mod = {}
function mod:validate_data_spool(msg, accept, vctx)
  local status, sets, reason = arc.verify(msg)
  msg:header("X-ARC-Verify", status .. " " .. sets .. " " .. (reason or ""))
  local sealed, how = arc.sign(msg, vctx, { base_domain = "forwarder.itest", selector = "arc",
    keyfile = "KEYFILE", authservid = "mx.forwarder.itest" })
  msg:header("X-ARC-Sealed", tostring(sealed) .. " " .. tostring(how) .. " "
    .. tostring(vctx:get(msys.core.VCTX_MESS, "arc_status")))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("forwarder", mod)
"""


def rsa_key(path, bits=2048):
    subprocess.run(["openssl", "genrsa", "-out", path, str(bits)], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", path, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def txt_option(name, record):
    # One TXT record of several strings (each at most 255 octets), as long keys are published;
    # unquoted: dnsmasq keeps quotes given on its command line.
    text = record.decode()
    chunks = [text[i:i + 250] for i in range(0, len(text), 250)]
    return f"--txt-record={name}," + ",".join(chunks)


@pytest.fixture
def arc_setup(tmp_path, server_factory):
    records = {
        "arc._domainkey.forwarder.itest": rsa_key(tmp_path / "forwarder.key"),
        "o1._domainkey.origin.itest": rsa_key(tmp_path / "origin.key"),
    }
    dns, port = start_dnsmasq(tmp_path, [txt_option(n, v) for n, v in records.items()] + ["--local=/itest/"],
                              probe_name="arc._domainkey.forwarder.itest")
    sink = Sink()
    script = tmp_path / "forwarder.lua"
    script.write_text(SCRIPT.replace("KEYFILE", str(tmp_path / "forwarder.key")))
    server = server_factory(
        body='  relay_domains = ( "forwarder.itest" )', deliver=True,
        global_options=(f'dns_nameservers = ( "127.0.0.1@{port}" )\n'
                        f'domain "forwarder.itest" {{ gateway = "127.0.0.1:{sink.port}" }}\n'),
        extra=f'scriptlet "scriptlet" {{ script "f" {{ source = "{script}" }} }}\n').start()
    lookup = lambda name, timeout=5: records.get(name.decode().rstrip("."))
    origin_key = open(tmp_path / "origin.key", "rb").read()
    yield server, sink, lookup, origin_key
    sink.close()
    dns.terminate()
    dns.wait()


def relay(server, sink, message, count):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("alice@origin.itest", ["list@forwarder.itest"], message)
    return sink.wait_for(count)[count - 1].data


def header(data, name):
    found = re.search(rb"^" + name + rb": ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", data, re.M | re.I)
    return found.group(1).decode() if found else None


def origin_sealed(message, key):
    return b"".join(dkim.arc_sign(message, b"o1", b"origin.itest", key, b"origin.itest")) + message


def test_a_set_sealed_by_impulse_validates_with_dkimpy(arc_setup):
    server, sink, lookup, _ = arc_setup
    data = relay(server, sink, MESSAGE, 1)
    assert header(data, b"X-ARC-Verify") == "none 0 "
    assert header(data, b"X-ARC-Sealed") == "true none none"
    seal = header(data, b"ARC-Seal")
    assert "i=1" in seal and "cv=none" in seal and "d=forwarder.itest" in seal
    assert "mx.forwarder.itest" in header(data, b"ARC-Authentication-Results")
    cv, results, reason = dkim.arc_verify(data, dnsfunc=lookup)
    assert cv == b"pass", reason
    # What Impulse seals is what the next hop gets: a change after sealing breaks the chain.
    cv, _, _ = dkim.arc_verify(data.replace(b"Hello.", b"Hello!"), dnsfunc=lookup)
    assert cv == b"fail"


def test_a_chain_from_dkimpy_is_validated_and_extended(arc_setup):
    server, sink, lookup, origin_key = arc_setup
    sealed = origin_sealed(MESSAGE, origin_key)
    assert dkim.arc_verify(sealed, dnsfunc=lookup)[0] == b"pass"
    data = relay(server, sink, sealed, 1)
    assert header(data, b"X-ARC-Verify") == "pass 1 "
    assert header(data, b"X-ARC-Sealed") == "true pass pass"
    seals = re.findall(rb"^ARC-Seal: ([^\r\n]*)", data, re.M)
    assert len(seals) == 2 and any(b"i=2" in s and b"cv=pass" in s for s in seals)
    cv, results, reason = dkim.arc_verify(data, dnsfunc=lookup)
    assert cv == b"pass", reason
    assert [r["instance"] for r in results] == [2, 1] or len(results) == 2


def test_a_broken_chain_is_sealed_as_failed_and_a_failed_chain_is_not_extended(arc_setup):
    server, sink, lookup, origin_key = arc_setup
    tampered = origin_sealed(MESSAGE, origin_key).replace(b"Hello.", b"Hello!")
    data = relay(server, sink, tampered, 1)
    verdict = header(data, b"X-ARC-Verify")
    assert verdict.startswith("fail 1 ARC-Message-Signature i=1: body hash mismatch"), verdict
    assert header(data, b"X-ARC-Sealed") == "true fail fail"
    assert re.search(rb"^ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=fail", data, re.M)
    # dkimpy reports a chain whose newest seal says cv=fail as ended (None), not as passing.
    cv, _, reason = dkim.arc_verify(data, dnsfunc=lookup)
    assert cv is None and "ARC-Seal[2] reported failure" in reason, (cv, reason)
    # The newest seal now says cv=fail: nobody may add to the chain (RFC 8617 section 5.1.2).
    data = relay(server, sink, data, 2)
    assert header(data, b"X-ARC-Verify").startswith("fail 2 ARC-Seal i=2 says cv=fail")
    assert header(data, b"X-ARC-Sealed").startswith("false the chain already failed")
    assert len(re.findall(rb"^ARC-Seal:", data, re.M)) == 2


def test_malformed_chains_fail_without_harm(arc_setup):
    server, sink, lookup, origin_key = arc_setup
    sealed = origin_sealed(MESSAGE, origin_key)
    seal = header(sealed, b"ARC-Seal")
    cases = [
        # A set with its seal missing.
        re.sub(rb"ARC-Seal: [^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n", b"", sealed),
        # An instance out of range, and a seal with a garbled tag list.
        sealed.replace(b"ARC-Seal: i=1", b"ARC-Seal: i=99", 1),
        sealed.replace(b"ARC-Seal: i=1;", b"ARC-Seal: i=1; i=2;", 1),
        # A seal whose signature is not base64, and one whose key is not there.
        sealed.replace(seal.encode(), re.sub(r"(\sb=)", r"\1!!!", seal).encode()),
        sealed.replace(b"s=o1", b"s=nosuch"),
        # Many fields claiming to be ARC sets.
        b"".join(b"ARC-Seal: i=%d; a=rsa-sha256; cv=pass; d=x.itest; s=s; b=AAAA\r\n" % (i % 50 + 1)
                 for i in range(200)) + MESSAGE,
    ]
    for number, message in enumerate(cases, start=1):
        data = relay(server, sink, message, number)
        verdict = header(data, b"X-ARC-Verify")
        assert verdict.startswith("fail "), (number, verdict)
        # Impulse sealed it as failed; dkimpy reads that as failed or ended, never as passing.
        assert header(data, b"X-ARC-Sealed") == "true fail fail", number
        assert dkim.arc_verify(data, dnsfunc=lookup)[0] in (b"fail", None), number
