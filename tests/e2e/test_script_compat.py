"""What public Momentum scripts expect of the msys library and objects, each where Impulse once
differed: json as a global, msys.counter functions taking a path string, a relative mask in
msys.audit.inbound_session_count, ec_string's `.buffer`, and an IPv6 ec_sockaddr printed in
Momentum's form."""
import smtplib

from test_policy import policy_server

POLICY = """
local CONN = msys.core.VCTX_CONN
local mod = {}
function mod:validate_connect(ac, vctx)
  vctx:set(CONN, "addr", tostring(ac.remote_addr))
  vctx:set(CONN, "same_ip", tostring(msys.audit.inbound_session_count("/128")))
  return msys.core.VALIDATE_CONT
end
function mod:validate_mailfrom(msg, ac, vctx)
  msys.counter.inc("/site/compat_mailfrom")
  msys.counter.add("/app/compat/other", 5)
  local opened = msys.counter.open("/app/compat/other")
  local bad_ok, bad_err = pcall(msys.counter.inc, "no leading slash")
  local s = msys.core.string_new("buf")
  s:set("changed")
  local parts = {
    vctx:get(CONN, "addr"), vctx:get(CONN, "same_ip"), tostring(msys.counter.read("/site/compat_mailfrom")),
    tostring(opened:read()), tostring(bad_ok), s.buffer, json.encode({ 1, 2 }),
  }
  vctx:set_code(550, "5.7.1 " .. table.concat(parts, " "))
  return msys.core.VALIDATE_DONE
end
msys.registerModule("compat", mod)
"""


def test_library_differences_public_scripts_hit(server_factory):
    server = policy_server(server_factory, {"compat": POLICY}, listen="[::1]:0").start()
    with smtplib.SMTP("::1", server.port, timeout=10) as first, smtplib.SMTP("::1", server.port, timeout=10) as second:
        first.ehlo("client.test")
        second.ehlo("client.test")
        first_port = first.sock.getsockname()[1]
        code, text = first.mail("a@example.test")
        second_code, second_text = second.mail("b@example.test")
    assert code == 550
    words = text.decode().split(" ")
    # IPv6 in Momentum's "ip.port" form; one session from ::1 when the first connected.
    assert words[1:] == [f"::1.{first_port}", "1", "1", "5", "false", "changed", "[1,2]"], text
    # The second session sees both, and the counter counted across sessions.
    assert second_code == 550
    second_words = second_text.decode().split(" ")
    assert second_words[2:5] == ["2", "2", "10"], second_text


CIDR_POLICY = """
require("msys.cidr")
local mod = {}
function mod:init()
  msys.cidr.define("listed", { type = "rbldnsd", source = "%DIR%/listed.rbldnsd", interpolate = true })
  msys.cidr.define("codes", { type = "rbldnsd", source = "%DIR%/listed.rbldnsd", record_type = "A",
                              default_value = "127.0.0.0" })
  msys.cidr.define("blocks", { type = "datasource", cachename = "DS", query = "select net, why from blocks",
                               refresh = 1 })
  return true
end
function mod:validate_mailfrom(msg, ac, vctx)
  local parts = { tostring(msys.cidr.query("listed")), msys.cidr.query("codes"), msys.cidr.query("codes", "192.0.2.1"),
                  tostring(msys.cidr.query("blocks")), tostring(msys.cidr.query("blocks", "203.0.113.9")) }
  vctx:set_code(550, "5.7.1 " .. table.concat(parts, " "))
  return msys.core.VALIDATE_DONE
end
msys.registerModule("cidr", mod)
"""


def test_cidr_tables_from_files_and_datasources(server_factory):
    import sqlite3
    import time
    server = policy_server(server_factory, {"cidr": ""},
                           extra='Datasource "DS" { uri = ( "sqlite:blocks.db" ) no_cache = true }\n')
    directory = server.directory
    (directory / "listed.rbldnsd").write_text(
        ":127.0.0.2:Listed, see https://bl.example/lookup?ip=$\n127.0.0.0/8\n10.0.0.0/8 :127.0.0.3:internal $ here\n")
    with sqlite3.connect(directory / "blocks.db") as db:
        db.executescript("CREATE TABLE blocks (net text, why text); INSERT INTO blocks VALUES ('127.0.0.0/8', 'loop');")
    (directory / "cidr.lua").write_text(CIDR_POLICY.replace("%DIR%", str(directory)))
    server.start()

    def reply():
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.ehlo("client.test")
            return client.mail("a@example.test")[1].decode()

    # interpolate puts the client's address for "$"; record_type A gives the A part; the
    # datasource table holds the query's rows.
    assert reply() == ("5.7.1 Listed, see https://bl.example/lookup?ip=127.0.0.1 127.0.0.2 127.0.0.0 loop nil")
    with sqlite3.connect(directory / "blocks.db") as db:
        db.execute("INSERT INTO blocks VALUES ('203.0.113.0/24', 'docs')")
    # refresh = 1: the table follows the database within a few seconds.
    deadline = time.time() + 10
    while not reply().endswith("loop docs") and time.time() < deadline:
        time.sleep(0.5)
    assert reply().endswith("loop docs")


FINAL2_POLICY = """
local first, second = {}, {}
function first:core_final_validation2(msg, ac, vctx)
  msg:header("X-Order", "final2")
  local subject = msg:header("Subject")[1]
  if subject == "retry" then return msys.core.EC_HOOK_RETRY end
  if subject == "done" then return msys.core.EC_HOOK_DONE end
  return msys.core.EC_HOOK_CONT
end
function second:core_final_validation2(msg, ac, vctx)
  msg:header("X-Second", "ran")
  return msys.core.EC_HOOK_CONT
end
function first:core_final_validation(msg, ac, vctx)
  msg:header("X-Order", msg:header("X-Order")[1] .. " final")
end
msys.registerModule("first", first)
msys.registerModule("second", second)
"""


def test_core_final_validation2(server_factory):
    server = policy_server(server_factory, {"final2": FINAL2_POLICY}).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("a@source.test", ["b@example.test"], "Subject: cont\r\n\r\nbody\r\n")
        client.sendmail("a@source.test", ["b@example.test"], "Subject: done\r\n\r\nbody\r\n")
        try:
            client.sendmail("a@source.test", ["b@example.test"], "Subject: retry\r\n\r\nbody\r\n")
            refused = None
        except smtplib.SMTPDataError as error:
            refused = error.smtp_code
    assert refused == 451
    bodies = {body.split(b"Subject: ")[1].split(b"\r\n")[0]: body for _, (_, body) in server.records().items()}
    assert set(bodies) == {b"cont", b"done"}
    # It runs before core_final_validation; EC_HOOK_DONE keeps later modules from running.
    assert b"X-Order: final2 final\r\n" in bodies[b"cont"] and b"X-Second: ran" in bodies[b"cont"]
    assert b"X-Order: final2 final\r\n" in bodies[b"done"] and b"X-Second" not in bodies[b"done"]


COPY_POLICY = """
local mod = {}
function mod:validate_data(msg, ac, vctx)
  local copy = msg:copy()
  copy:header("X-Copy", "yes")
  copy:body(copy:body() .. "copied\\r\\n")
  assert(copy:inject("copy@source.test", "archive@example.test"))
  -- The received message itself, injected once more to another recipient.
  assert(msg:inject("again@source.test", "second@example.test"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("copier", mod)
"""


def test_copies_and_injection_of_a_received_message(server_factory):
    server = policy_server(server_factory, {"copier": COPY_POLICY}).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("a@source.test", ["b@example.test"], "Subject: original\r\n\r\nbody\r\n")
    records = {envelope["mail_from"]: (envelope, body) for envelope, body in server.records().values()}
    assert set(records) == {"a@source.test", "copy@source.test", "again@source.test"}, records.keys()
    original, copy, again = records["a@source.test"][1], records["copy@source.test"][1], records["again@source.test"][1]
    assert b"X-Copy" not in original and original.endswith(b"\r\nbody\r\n")
    assert b"X-Copy: yes\r\n" in copy and copy.endswith(b"body\r\ncopied\r\n")
    assert b"X-Copy" not in again and b"Subject: original" in again


ADD_RECIPIENT_POLICY = """
local mod = {}
function mod:validate_data(msg, ac, vctx)
  -- As Momentum's manual does it: a recipient added once the message is in.
  vctx:add_recipient("archive@example.test")
  return msys.core.VALIDATE_CONT
end
function mod:validate_data_spool_each_rcpt(msg, ac, vctx)
  msg:header("X-Each", vctx:get(msys.core.VCTX_MESS, "rcptto_localpart"), "append")
  return msys.core.VALIDATE_CONT
end
function mod:core_final_validation(msg, ac, vctx)
  local ok, err = pcall(vctx.add_recipient, vctx, "late@example.test")
  msg:header("X-Late", ok and "added" or "refused")
end
msys.registerModule("adder", mod)
"""


def test_add_recipient_in_validate_data(server_factory):
    server = policy_server(server_factory, {"adder": ADD_RECIPIENT_POLICY}).start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("a@source.test", ["b@example.test"], "Subject: add\r\n\r\nbody\r\n")
    (envelope, body), = server.records().values()
    assert [r["address"] if isinstance(r, dict) else r for r in envelope["recipients"]] == \
        ["b@example.test", "archive@example.test"], envelope["recipients"]
    # The per-recipient callout ran for the added recipient too; after it the list is final.
    assert b"X-Each: b\r\n" in body and b"X-Each: archive\r\n" in body
    assert b"X-Late: refused" in body
