"""The HTTP injection API and /stats JSON (docs/http-api.md), with a real HTTP client (urllib)
against the real server on loopback."""
import base64
import hashlib
import json
import re
import signal
import subprocess
import urllib.error
import urllib.request

from test_policy import policy_server

TRANSMISSION = {
    "campaign_id": "spring",
    "metadata": {"tenant": "acme", "tier": 2},
    "substitution_data": {"greeting": "Hello", "shop": {"name": "Acme"}},
    "recipients": [
        {"address": {"email": "ann@example.test", "name": "Ann Example"},
         "substitution_data": {"first": "Ann"}, "metadata": {"user_id": "u1"}},
        {"address": "bob@example.test", "substitution_data": {"first": "Bob <b>"}},
    ],
    "content": {
        "from": {"email": "news@sender.test", "name": "Acme News"},
        "subject": "{{greeting}} {{first}} from {{shop.name}}",
        "text": "Dear {{first}},\nwelcome to {{shop.name}}.\n",
        "html": "<p>Dear {{first}}</p><p>{{{first}}}</p>",
        "headers": {"X-Campaign": "{{shop.name}}"},
    },
}


def http_port(server):
    return int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))


def request(port, path, body=None, method=None, headers=None):
    """(status, parsed JSON body or text)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def api_server(server_factory, listen_options="", scripts=None):
    extra = 'HTTP_Listener {\n  Listen "127.0.0.1:0" {\n' + listen_options + '\n  }\n}\n'
    if scripts:
        server = policy_server(server_factory, scripts, extra=extra)
    else:
        server = server_factory('  relay_domains = ( "example.test" )', extra=extra)
    return server


def test_a_template_is_rendered_per_recipient_and_spooled_before_200(server_factory):
    server = api_server(server_factory).start()
    port = http_port(server)
    status, answer = request(port, "/api/v1/transmissions", TRANSMISSION)
    assert status == 200, answer
    results = answer["results"]
    assert results["total_accepted_recipients"] == 2 and results["total_rejected_recipients"] == 0
    assert [r["address"] for r in results["recipients"]] == ["ann@example.test", "bob@example.test"]
    ids = [r["message_id"] for r in results["recipients"]]
    assert all(r["status"] == "accepted" for r in results["recipients"])
    # Acknowledged means durable: a crash right after the answer keeps both messages.
    server.stop(signal.SIGKILL)
    assert set(ids) <= server.spooled_ids()
    records = server.records()
    ann_envelope, ann = records[ids[0]]
    bob_envelope, bob = records[ids[1]]
    assert ann_envelope["mail_from"] == "news@sender.test"
    assert [r["address"] for r in ann_envelope["recipients"]] == ["ann@example.test"]
    assert json.loads(ann_envelope["context"]["mo_rcpt_meta"]) == {"tenant": "acme", "tier": 2, "user_id": "u1"}
    assert ann_envelope["context"]["mo_campaign_id"] == "spring"
    assert "user_id" not in json.loads(bob_envelope["context"]["mo_rcpt_meta"])
    import email
    from email import policy as email_policy
    message = email.message_from_bytes(ann, policy=email_policy.default)
    assert message["Subject"] == "Hello Ann from Acme"
    assert message["From"] == "Acme News <news@sender.test>"
    assert message["To"] == "Ann Example <ann@example.test>"
    assert message["X-Campaign"] == "Acme"
    assert message["Message-ID"] and message["Date"]
    assert message["Received"].startswith("from 127.0.0.1") and "with HTTP" in message["Received"]
    assert b"\r\n" in ann and b"\n" not in ann.replace(b"\r\n", b"")
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Dear Ann,\nwelcome to Acme.\n"
    # HTML: {{…}} is escaped, {{{…}}} is not.
    html = email.message_from_bytes(bob, policy=email_policy.default).get_body(("html",)).get_content()
    assert "<p>Dear Bob &lt;b&gt;</p><p>Bob <b></p>" in html


def test_an_rfc822_message_with_substitutions(server_factory):
    server = api_server(server_factory).start()
    body = {"return_path": "bounce@sender.test", "recipients": ["x@example.test"],
            "substitution_data": {"n": 7},
            "content": {"email_rfc822": "From: a@sender.test\nSubject: order {{n}}\n\nline {{n}}\n"}}
    status, answer = request(http_port(server), "/api/v1/transmissions", body)
    assert status == 200, answer
    envelope, data = server.records()[answer["results"]["recipients"][0]["message_id"]]
    assert envelope["mail_from"] == "bounce@sender.test"
    assert b"Subject: order 7\r\n" in data and data.endswith(b"\r\n\r\nline 7\r\n")
    assert re.search(rb"^Message-ID: <[^>]+@impulse\.test>\r$", data, re.M)


def test_bad_requests_get_400_with_where(server_factory):
    server = api_server(server_factory, "max_request_size = 2048").start()
    port = http_port(server)
    status, answer = request(port, "/api/v1/transmissions", b'{"recipients": [\n  "a@example.test",\n  x]}')
    assert status == 400
    assert answer["errors"][0]["location"] == "line 3, column 3"
    assert "expected a value" in answer["errors"][0]["description"]
    status, answer = request(port, "/api/v1/transmissions", b'[1, 2,]')
    assert status == 400 and answer["errors"][0]["location"] == "line 1, column 7"
    broken = {"recipients": ["a@example.test", {"address": 5}], "content": {"email_rfc822": "x"}}
    status, answer = request(port, "/api/v1/transmissions", broken)
    assert status == 400 and answer["errors"][0]["location"] == "recipients[1].address", answer
    status, answer = request(port, "/api/v1/transmissions",
                             {"recipients": ["a@example.test"], "content": {"email_rfc822": "Subject: x\n\ny"}})
    assert status == 400 and answer["errors"][0]["location"] == "return_path"
    status, answer = request(port, "/api/v1/transmissions", {"recipients": ["a@example.test"], "content": {
        "from": "a@sender.test", "subject": "s", "text": "t", "headers": {"Bad Name": "v"}}})
    assert status == 400 and answer["errors"][0]["location"] == "content.headers.Bad Name"
    status, answer = request(port, "/api/v1/transmissions", b"{" + b" " * 4096 + b"}")
    assert status == 413
    status, _ = request(port, "/api/v1/transmissions", method="GET")
    assert status == 405
    status, answer = request(port, "/api/v1/transmissions", {"recipients": ["not-an-address"],
                                                             "content": {"email_rfc822": "x"}, "return_path": ""})
    assert status == 400 and answer["errors"][0]["location"] == "recipients[0]"
    assert server.spooled_ids() == set()
    # The server is still well after all that.
    assert request(port, "/stats/summary")[0] == 200


POLICY = """
local mod = {}
function mod:msg_gen_data_spool(msg, accept, vctx)
  if msg:rcptto():find("^refused@") then
    vctx:set_code(550, "5.7.1 not this one")
    return
  end
  local meta = msg:context_get(msys.core.ECMESS_CTX_MESS, "mo_rcpt_meta") or "-"
  local tenant = msg:context_get(msys.core.ECMESS_CTX_MESS, "tenant") or "-"
  local user = accept.context and "" or ""
  msg:header("X-Seen-Meta", meta)
  msg:header("X-Tenant", tenant)
  msg:header("X-User", vctx:get(msys.core.VCTX_CONN, "auth_user") or "anonymous")
end
function mod:validate_set_binding(msg)
  msg:binding("bulk")
  return msys.core.VALIDATE_CONT
end
function mod:core_final_validation(msg, accept, vctx)
  if msg:rcptto():find("^later@") then vctx:set_code(451, "4.7.1 come back later") end
end
function mod:core_config_get_message_routing_domain(scope, msg, buff)
  if tostring(buff):match("%.sub%.example%.test$") then buff:set("example.test") end
  return #buff
end
msys.registerModule("inject", mod)
"""


def test_the_policy_sees_and_decides_each_injected_message(server_factory):
    server = api_server(server_factory, scripts={"inject": POLICY})
    server.config.write_text(server.config.read_text() + 'binding "bulk" { }\n')
    server.start()
    body = {"metadata": {"tenant": "acme"}, "recipients": ["ok@example.test", "refused@example.test"],
            "content": {"from": "a@sender.test", "subject": "s", "text": "t"}}
    status, answer = request(http_port(server), "/api/v1/transmissions", body)
    assert status == 200, answer
    ok, refused = answer["results"]["recipients"]
    assert ok["status"] == "accepted"
    assert refused == {"address": "refused@example.test", "status": "rejected", "code": 550,
                       "reason": "5.7.1 not this one"}
    envelope, data = server.records()[ok["message_id"]]
    assert b'X-Seen-Meta: {"tenant":"acme"}\r\n' in data
    assert b"X-Tenant: acme\r\n" in data and b"X-User: anonymous\r\n" in data
    assert envelope["binding"] == "bulk" or envelope["recipients"][0].get("binding") == "bulk", envelope
    # The routing-domain hook has the last word, as for SMTP.
    status, answer = request(http_port(server), "/api/v1/transmissions", dict(body, recipients=["x@a.sub.example.test"]))
    assert status == 200
    envelope, _ = server.records()[answer["results"]["recipients"][0]["message_id"]]
    assert envelope.get("routing_domain") == "example.test", envelope
    # Every recipient refused for now: 503, so the client retries.
    status, answer = request(http_port(server), "/api/v1/transmissions", dict(body, recipients=["later@example.test"]))
    assert status == 503 and answer["results"]["recipients"][0]["code"] == 451
    status, answer = request(http_port(server), "/api/v1/transmissions", dict(body, recipients=["refused@example.test"]))
    assert status == 422


def test_authentication_and_rate(server_factory, tmp_path):
    hashed = subprocess.run(["openssl", "passwd", "-6", "s3cret"], capture_output=True, text=True,
                            check=True).stdout.strip()
    (tmp_path / "http.passwd").write_text(f"app:{hashed}\n")
    token = "tok-0123456789"
    (tmp_path / "tokens").write_text(f"billing:sha256:{hashlib.sha256(token.encode()).hexdigest()}\nplain:open-token\n")
    options = (f'enable_authentication = true\nAuthBasicParameters = [ uri = "file://{tmp_path}/http.passwd" ]\n'
               f'AuthBearerParameters = [ uri = "file://{tmp_path}/tokens" ]\nrequest_rate = "8/1"')
    server = api_server(server_factory, options, scripts={"inject": POLICY})
    server.config.write_text(server.config.read_text() + 'binding "bulk" { }\n')
    server.start()
    port = http_port(server)
    body = {"recipients": ["ok@example.test"], "content": {"from": "a@sender.test", "subject": "s", "text": "t"}}
    basic = "Basic " + base64.b64encode(b"app:s3cret").decode()
    status, _ = request(port, "/api/v1/transmissions", body)
    assert status == 401
    status, _ = request(port, "/stats/summary")
    assert status == 401  # with enable_authentication every path needs credentials
    status, _ = request(port, "/api/v1/transmissions", body,
                        headers={"Authorization": "Basic " + base64.b64encode(b"app:wrong").decode()})
    assert status == 401
    status, answer = request(port, "/api/v1/transmissions", body, headers={"Authorization": basic})
    assert status == 200, answer
    _, data = server.records()[answer["results"]["recipients"][0]["message_id"]]
    assert b"X-User: app\r\n" in data
    status, answer = request(port, "/api/v1/transmissions", body, headers={"Authorization": "Bearer " + token})
    assert status == 200
    _, data = server.records()[answer["results"]["recipients"][0]["message_id"]]
    assert b"X-User: billing\r\n" in data
    assert request(port, "/api/v1/transmissions", body, headers={"Authorization": "Bearer open-token"})[0] == 200
    assert request(port, "/api/v1/transmissions", body, headers={"Authorization": "Bearer nope"})[0] == 401
    log = server.log.read_text()
    assert "s3cret" not in log and token not in log
    # request_rate: 8 a second, in a burst of 8 at most; a quick run of 20 meets 429.
    statuses = [request(port, "/stats/summary", headers={"Authorization": basic})[0] for _ in range(20)]
    assert 429 in statuses and 200 in statuses


def test_stats_json(server_factory):
    server = api_server(server_factory).start()
    port = http_port(server)
    body = {"recipients": ["a@example.test", "b@example.test", "c@other.test"],
            "content": {"from": "a@sender.test", "subject": "s", "text": "t"}}
    status, answer = request(port, "/api/v1/transmissions", body)
    # other.test is not a relay domain, but injection is authorised submission: all accepted.
    assert status == 200 and answer["results"]["total_accepted_recipients"] == 3
    status, summary = request(port, "/stats/summary")
    assert status == 200
    assert summary["results"]["total_received"] == 3
    assert summary["results"]["resident_messages"] == 3
    status, mailq = request(port, "/stats/queues/mailq")
    assert status == 200
    rows = {row["domain"]: row for row in mailq["results"]}
    assert rows["example.test"]["active"] + rows["example.test"]["delayed"] == 2
    assert rows["other.test"]["active"] + rows["other.test"]["delayed"] == 1
    status, mailq = request(port, "/stats/queues/mailq?domain=other.test")
    assert [row["domain"] for row in mailq["results"]] == ["other.test"]
    assert request(port, "/stats/nothing")[0] == 404


def test_answers_match_the_openapi_description(server_factory):
    """docs/http-api.yaml is valid OpenAPI, names the paths served, and real answers fit its schemas."""
    import jsonschema
    import yaml
    from openapi_spec_validator import validate
    from pathlib import Path
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "http-api.yaml").read_text())
    validate(document)

    def check(instance, name):
        jsonschema.validate(instance, {"$ref": f"#/components/schemas/{name}", "components": document["components"]})

    server = api_server(server_factory).start()
    port = http_port(server)
    status, answer = request(port, "/api/v1/transmissions", TRANSMISSION)
    assert status == 200 and "200" in document["paths"]["/api/v1/transmissions"]["post"]["responses"]
    check(answer, "TransmissionResult")
    check(TRANSMISSION, "Transmission")
    status, answer = request(port, "/api/v1/transmissions", b"{")
    assert status == 400
    check(answer, "Error")
    for path, name in (("/stats/summary", "Summary"), ("/stats/queues/mailq", "Mailq")):
        status, answer = request(port, path)
        assert status == 200 and path in document["paths"]
        check(answer, name)
    # The schema is not a formality: an answer of the wrong shape fails it.
    try:
        check({"results": {"recipients": [{"address": "a", "status": "maybe"}]}}, "TransmissionResult")
        raise AssertionError("the schema accepted an unknown status")
    except jsonschema.ValidationError:
        pass


def test_mainlog_names_rest_and_the_client(server_factory):
    server = server_factory('  relay_domains = ( "example.test" )',
                            extra='HTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n'
                                  'ec_logger { mainlog = "mainlog.ec" }\n')
    server.start()
    status, answer = request(http_port(server), "/api/v1/transmissions",
                             {"recipients": ["x@example.test"],
                              "content": {"from": "a@sender.test", "subject": "s", "text": "t"}})
    assert status == 200
    message_id = answer["results"]["recipients"][0]["message_id"]
    import time
    deadline = time.time() + 10
    line = ""
    while time.time() < deadline:
        log = server.directory / "mainlog.ec"
        lines = [l for l in (log.read_text().splitlines() if log.exists() else []) if message_id in l]
        if lines:
            line = lines[0]
            break
        time.sleep(0.05)
    fields = line.split("@")
    assert fields[4] == "R" and fields[9] == "127.0.0.1" and fields[11] == "rest", line


def test_listener_options_are_checked_at_load(tmp_path):
    from conftest import BIN
    (tmp_path / "tokens").write_text("ops:$6$salt$hash\n")

    def check(listener):
        config = tmp_path / "ecelerity.conf"
        config.write_text('spoolbase = "spool"\nESMTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n'
                          f'HTTP_Listener {{\n{listener}\n  Listen "127.0.0.1:0" {{ }}\n}}\n')
        result = subprocess.run([BIN, "check-config", "--config", str(config)], capture_output=True, text=True)
        return result.returncode, result.stdout + result.stderr

    code, out = check("enable_authentication = true")
    assert code == 2 and "enable_authentication needs AuthBasicParameters or AuthBearerParameters" in out
    code, out = check('tls_certificate = "cert.pem"')
    assert code == 2 and re.search(r"ecelerity\.conf:6:\d+: error: 'tls_certificate' is not supported on the HTTP_Listener", out)
    code, out = check(f'AuthBearerParameters = [ uri = "file://{tmp_path}/tokens" ]')
    assert code == 2 and "holds a crypt(3) hash" in out
    code, out = check('request_rate = "0/1"')
    assert code == 2 and "must allow at least one request" in out
    code, out = check("max_request_size = 10")
    assert code == 2 and "max_request_size" in out
    code, out = check("idle_time = 0")
    assert code == 2 and "idle_time" in out
    code, out = check('request_rate = "50/1"\nmax_request_size = 65536\nidle_time = 5\nevent_loop = "http"')
    assert code == 0 and "'event_loop' is not supported on the HTTP_Listener yet (ignored)" in out, out


def test_idle_connections_are_closed_after_idle_time(server_factory):
    import socket
    import time
    server = api_server(server_factory, "idle_time = 1").start()
    connection = socket.create_connection(("127.0.0.1", http_port(server)), timeout=10)
    started = time.time()
    assert connection.recv(1) == b""  # closed by the server, without a request
    assert 0.8 < time.time() - started < 5
    connection.close()


def test_a_large_batch_is_spooled_whole(server_factory):
    """More recipients than one turn of the event loop handles (the injector yields every 32)."""
    server = api_server(server_factory, scripts={"inject": POLICY})
    server.config.write_text(server.config.read_text() + 'binding "bulk" { }\n')
    server.start()
    body = {"recipients": [{"address": f"u{i}@example.test", "substitution_data": {"i": i}} for i in range(150)],
            "content": {"from": "a@sender.test", "subject": "n {{i}}", "text": "t"}}
    status, answer = request(http_port(server), "/api/v1/transmissions", body)
    assert status == 200 and answer["results"]["total_accepted_recipients"] == 150
    ids = [r["message_id"] for r in answer["results"]["recipients"]]
    assert len(set(ids)) == 150
    records = server.records()
    assert {records[i][1].split(b"Subject: ")[1].split(b"\r\n")[0] for i in ids} == {
        f"n {i}".encode() for i in range(150)}
