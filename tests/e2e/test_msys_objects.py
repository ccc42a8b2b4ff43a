"""The msys objects (accept, msg) and library functions, seen through real SMTP sessions."""
import re

from conftest import Raw
from test_policy import policy_server


def header(data: bytes, name: str) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return [m.group(1) for m in re.finditer(rf"(?im)^{re.escape(name)}: ([^\r\n]*)", head)]


def send(raw, sender, recipients, message, ehlo=True):
    if ehlo:
        raw.command("EHLO client.test")
    assert raw.command(f"MAIL FROM:<{sender}>")[0] == 250
    for recipient in recipients:
        assert raw.command(f"RCPT TO:<{recipient}>")[0] == 250
    assert raw.command("DATA")[0] == 354
    return raw.command(message + "\r\n.")


def test_accept_object_capabilities_and_session_counts(server_factory):
    server = policy_server(server_factory, {"accept": """
local core = msys.core
local mod = {}
function mod:validate_connect(accept, vctx)
  vctx:set(core.VCTX_CONN, "peer", tostring(accept.remote_addr))
  vctx:set(core.VCTX_CONN, "family", core.ec_sockaddr_family(accept.remote_addr) == core.AF_INET and "inet" or "other")
  vctx:set(core.VCTX_CONN, "types", msys.type(vctx) .. "," .. msys.type(accept))
  vctx:set(core.VCTX_CONN, "same", tostring(core.accept_construct_get_message_construct(accept).ctx == vctx))
  vctx:set(core.VCTX_CONN, "count", accept:inbound_session_count() .. "," .. accept:inbound_session_count("/8")
           .. "," .. msys.audit.inbound_session_count("10.0.0.0/8") .. "," .. accept:inbound_session_count(nil, "Control"))
  accept:esmtp_capability_remove("CHUNKING")
  accept:esmtp_capability_add("XIMPULSE-TEST")
  return core.VALIDATE_CONT
end
function mod:validate_data(msg, accept, vctx)
  for _, key in ipairs({ "peer", "family", "types", "same", "count" }) do
    msg:header("X-" .. key, vctx:get(core.VCTX_CONN, key))
  end
  return core.VALIDATE_CONT
end
msys.registerModule("accept", mod)
"""}).start()
    other = Raw(server.port)  # a second session from 127.0.0.1, open the whole time
    assert other.reply()[0] == 220
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    code, text = raw.command("EHLO client.test")
    assert code == 250 and "XIMPULSE-TEST" in text and "CHUNKING" not in text and "PIPELINING" in text
    assert send(raw, "a@source.test", ["x@example.test"], "Subject: s\r\n\r\nbody", ehlo=False)[0] == 250
    (envelope, data), = server.records().values()
    port = raw.sock.getsockname()[1]
    assert header(data, "X-peer") == [f"127.0.0.1:{port}"]
    assert header(data, "X-family") == ["inet"]
    assert header(data, "X-types") == ["validate_context,accept_construct"]
    assert header(data, "X-same") == ["true"]
    assert header(data, "X-count") == ["2,2,0,0"]


def test_msg_methods_in_the_message_phases(server_factory):
    server = policy_server(server_factory, {"msg": """
local core = msys.core
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local lp, dom = core.string_new(), core.string_new()
  msg:get_envelope2(core.EC_MSG_ENV_FROM, lp, dom)
  msg:header("X-Env", tostring(lp) .. " at " .. tostring(dom))
  msg:header("X-To", table.concat(msg:address_header("To", "domain"), ","))
  msg:header("X-Names", table.concat(msg:address_header("To", "name"), "|"))
  msg:header("X-Text", msg:text())
  msg:header("X-Match", tostring(msg:body_match("caf.")) .. "," .. tostring(msg:raw_match("^nothing-like-this$")))
  msg:header("X-Missing", "[" .. msg:context_get(core.ECMESS_CTX_MESS, "nope") .. "]")
  msg:context_set(core.VCTX_MESS, "k", "v")
  local found, value = msg:context_exists_and_get(core.VCTX_MESS, "k")
  msg:header("X-Ctx", found .. value .. msg:context_delete(core.VCTX_MESS, "k") .. msg:context_delete(core.VCTX_MESS, "k")
             .. msg:context_exists(core.VCTX_MESS, "k"))
  msg:header("X-Id", tostring(msg.id))
  msg:header("X-Peer", msg:reception_peer("ip") .. " " .. tostring(msg:listener_addr("port")))
  msg:header("X-Subject-Macro", (msys.expandMacro("%{rfc2822:headers}"):match("Subject: ([^\\r]*)")))
  msg:body_replace("secret", "[removed]")
  msg:mailfrom("rewritten@source.test")
  msg:routing_domain("routed.example")
  return core.VALIDATE_CONT
end
function mod:validate_data_spool_each_rcpt(msg, accept, vctx)
  if msg:rcptto() == "old@example.test" then msg:rcptto("new@example.test") end
  return core.VALIDATE_CONT
end
msys.registerModule("msgtest", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    message = ("To: \"Doe, Jane\" <jane@example.test>, bob@other.test\r\nSubject: hello there\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 secret=\r\n line")
    assert send(raw, "orig@source.test", ["old@example.test", "keep@example.test"], message)[0] == 250
    (envelope, data), = server.records().values()
    assert header(data, "X-Env") == ["orig at source.test"]
    assert header(data, "X-To") == ["example.test,other.test"]
    assert header(data, "X-Names") == ["Doe, Jane|"]
    assert header(data, "X-Text") == ["café secret line"]
    assert header(data, "X-Match") == ["true,false"]
    assert header(data, "X-Missing") == ["[]"]
    assert header(data, "X-Ctx") == ["1v100"]
    assert header(data, "X-Id") == [envelope["id"]]
    assert header(data, "X-Peer") == [f"127.0.0.1 {server.port}"]
    assert header(data, "X-Subject-Macro") == ["hello there"]
    assert b"[removed]" in data and b"secret" not in data.split(b"\r\n\r\n", 1)[1]
    assert envelope["mail_from"] == "rewritten@source.test"
    assert [r["address"] for r in envelope["recipients"]] == ["new@example.test", "keep@example.test"]
    assert envelope["routing_domain"] == "routed.example"


def test_binding_choice_priority_and_discard(server_factory):
    server = policy_server(server_factory, {"binding": """
local core = msys.core
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local ok, message = pcall(msg.binding, msg, "b1")
  msg:header("X-Outside", tostring(ok) .. " " .. tostring(message):gsub("^.-: ", ""))
  if msg:header("Subject")[1] == "drop me" then msg:discard("test discard") end
  return core.VALIDATE_CONT
end
function mod:validate_set_binding(msg)
  local subject = msg:header("Subject")[1]
  if subject == "single" then
    msg:binding("nope")       -- no such binding: nil, nothing chosen
    msg:binding("b1")
    msg.priority = 1
  elseif subject == "group" then
    msg:binding_group("g")
  end
  return core.VALIDATE_CONT
end
msys.registerModule("binder", mod)
"""}, body='  relay_domains = ( "example.test" )')
    server.config.write_text(server.config.read_text()
                             + 'binding "b1" { }\nbinding_group "g" {\n  binding "g1" { }\n  binding "g2" { }\n}\n')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    for subject in ["single", "group", "group", "plain"]:
        assert send(raw, "a@source.test", ["x@example.test"], f"Subject: {subject}\r\n\r\nbody", ehlo=False)[0] == 250
    code, text = send(raw, "a@source.test", ["x@example.test"], "Subject: drop me\r\n\r\nbody", ehlo=False)
    assert code == 250 and "queued as" in text
    records = sorted(server.records().values(), key=lambda r: r[0]["received_at_us"])
    assert [r[0].get("binding") for r in records] == ["b1", "g1", "g2", None]
    assert [r[0].get("binding_group") for r in records] == [None, "g", "g", None]
    assert [r[0].get("priority", 0) for r in records] == [1, 0, 0, 0]
    assert header(records[0][1], "X-Outside") == ["false only in validate_set_binding"]
    assert "message discarded by policy" in server.log.read_text() and "test discard" in server.log.read_text()


def test_binary_content_passes_through_lua_unchanged(server_factory):
    server = policy_server(server_factory, {"binary": """
local mod = {}
function mod:validate_data(msg, accept, vctx)
  msg:header("X-Size", tostring(msg:get_message_size()))
  local body = msg:body()
  msg:header("X-Has-Latin1", tostring(body:find("\\233", 1, true) ~= nil))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("binary", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@source.test> BODY=8BITMIME")
    raw.command("RCPT TO:<x@example.test>")
    raw.command("DATA")
    body = b"caf\xe9 \xff\xfe raw octets\r\n"
    raw.send(b"Subject: latin1\r\n\r\n" + body + b".\r\n")
    assert raw.reply()[0] == 250
    (envelope, data), = server.records().values()
    assert data.endswith(b"\r\n\r\n" + body)
    assert header(data, "X-Has-Latin1") == ["true"]
    assert header(data, "X-Size") == [str(len(b"Subject: latin1\r\n\r\n" + body))]


def test_shared_tables_across_sessions_and_init(server_factory, tmp_path):
    server = policy_server(server_factory, {"shared": """
local core = msys.core
local mod = {}
function mod:init()
  msys.cidr.define("nets", { type = "inline", entries = { ["127.0.0.0/8"] = "loopback" }, default_value = "elsewhere" })
  msys.gauge_cache.define("seen", 100, 3600)
  return true
end
function mod:validate_connect(accept, vctx)
  local n = msys.gauge_cache.inc("seen", accept.remote_addr.ip)
  local counter = msys.counter.open("/site/connections")
  counter:inc()
  if n > 2 then
    vctx:set_code(421, "4.7.0 too many connections from " .. msys.cidr.query("nets"))
  end
  return core.VALIDATE_CONT
end
msys.registerModule("shared", mod)
"""}).start()
    for _ in range(2):
        raw = Raw(server.port)
        assert raw.reply()[0] == 220
        raw.close()
    third = Raw(server.port)
    assert third.reply() == (421, "421 4.7.0 too many connections from loopback")


def test_scripts_generate_and_inject_messages(server_factory):
    server = policy_server(server_factory, {"notify": """
local core = msys.core
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local note = core.ec_message_new(core.get_now_ts())
  note:build({ { "From", "postmaster@example.test" }, { "To", "notify@example.test" }, { "Subject", "copy of " .. msg:header("Subject")[1] } },
             { ["text/plain"] = "plain café", ["text/html"] = "<p>html</p>" },
             { { type = "application/octet-stream", name = "orig.eml", content = msg:raw() } })
  local id, err = note:inject("postmaster@example.test", "notify@example.test, second@example.test")
  local bad, why = core.ec_message_new():inject("x@y.test", "z@example.test")
  msg:header("X-Injected", tostring(id) .. " " .. tostring(err))
  return core.VALIDATE_CONT
end
msys.registerModule("notify", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    assert send(raw, "a@source.test", ["x@example.test"], "Subject: original\r\n\r\nbody")[0] == 451  # build-first error
    server.stop()
    log = server.log.read_text()
    assert "msg:inject: build the message first" in log
    records = server.records()
    assert len(records) == 1, "the note was spooled before the error"
    (envelope, data), = records.values()
    assert envelope["mail_from"] == "postmaster@example.test"
    assert [r["address"] for r in envelope["recipients"]] == ["notify@example.test", "second@example.test"]
    assert envelope["protocol"] == "LOCAL"
    text = data.decode()
    assert "Subject: copy of original\r\n" in text and "multipart/mixed" in text and "multipart/alternative" in text
    assert text.index("text/plain") < text.index("text/html")
    assert "plain caf=C3=A9" in text and 'filename="orig.eml"' in text
    import base64
    encoded = text.split('filename="orig.eml"\r\nContent-Transfer-Encoding: base64\r\n\r\n', 1)[1].split("\r\n--", 1)[0]
    assert base64.b64decode(encoded.replace("\r\n", "")) == b"Subject: original\r\n\r\nbody\r\n"
