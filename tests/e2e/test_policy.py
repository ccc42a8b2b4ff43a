"""Momentum Lua policy scripts running in the real server."""
import shutil
import subprocess
import time

from conftest import BIN, ROOT, ROOT_FLAG, Raw, begin_data


def policy_server(server_factory, scripts: dict[str, str], body='  relay_domains = ( "example.test" )', extra="",
                  **options):
    stanza = 'alerting {}\nscriptlet "scriptlet" {\n' + "".join(
        f'  script "{name}" {{ source = "{name}" }}\n' for name in scripts) + "}\n"
    server = server_factory(body, extra=stanza + extra, **options)
    for name, text in scripts.items():
        (server.directory / f"{name}.lua").write_text(text)
    return server


def test_the_example_policy(server_factory):
    """examples/ecelerity.conf and examples/policies/, as the README's run command loads them."""
    server = server_factory("")
    shutil.copytree(ROOT / "examples" / "policies", server.directory / "policies")
    config = (ROOT / "examples" / "ecelerity.conf").read_text().replace("127.0.0.1:2525", "127.0.0.1:0")
    config = config.replace('"log/', '"').replace('"/tmp/2025"', '"ctl.sock"')
    # Not a delivery test: the mail stays in the spool (no DNS look-ups leave the machine).
    server.config.write_text("suspend_delivery = true\n" + config)
    server.start()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    raw.command("EHLO client.test")
    assert raw.command("MAIL FROM:<bad@spam.invalid>") == (550, "550 5.7.1 sender refused by policy")

    def message(sender, recipient, subject, date=True):
        assert raw.command(f"MAIL FROM:<{sender}>")[0] == 250
        assert raw.command(f"RCPT TO:<{recipient}>")[0] == 250
        assert raw.command("DATA")[0] == 354
        headers = f"Subject: {subject}\r\n" + ("Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n" if date else "")
        return raw.command(headers + "\r\nhello\r\n.")

    assert message("a@source.test", "x@example.test", "You are a LOTTERY WINNER") == (550, "550 5.7.1 message content refused")
    assert message("a@source.test", "former-employee@example.test", "hi")[0] == 550
    assert message("a@source.test", "x@sub.example.test", "normal", date=False)[0] == 250
    assert message("newsletter@source.test", "x@example.test", "news")[0] == 250
    assert message("alerts@source.test", "x@example.test", "alert")[0] == 250
    records = sorted(server.records().values(), key=lambda r: r[0]["received_at_us"])
    assert [r[0].get("binding") for r in records] == ["transactional", "bulk1", "transactional"]
    assert [r[0].get("binding_group") for r in records] == [None, "bulk", None]
    assert [r[0].get("routing_domain") for r in records] == ["example.test", None, None]
    assert [r[0].get("priority", 0) for r in records] == [0, 0, 1]
    assert b"X-Impulse-Policy: client=loopback; class=normal\r\n" in records[0][1]
    assert b"\r\nDate: " in records[0][1], "a missing Date is added"
    assert b"class=bulk" in records[1][1]


def test_runtime_error_answers_451_and_names_the_module(server_factory):
    server = policy_server(server_factory, {"bad": """
local mod = {}
function mod:validate_rcptto(msg, str, accept, vctx)
  return nil + 1
end
msys.registerModule("badmod", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    assert raw.command("RCPT TO:<x@example.test>") == (451, "451 4.3.0 Requested action aborted: local error in processing")
    assert raw.command("NOOP")[0] == 250
    log = server.log.read_text()
    assert "scriptlet: validate_rcptto error: bad.lua:4: attempt to perform arithmetic on a nil value" in log
    assert "scriptlet: badmod error: bad.lua:4:" in log


def test_self_phases_and_validate_dealloc(server_factory, tmp_path):
    record = tmp_path / "dealloc.txt"
    server = policy_server(server_factory, {"counter": f"""
require("msys.core")
local mod = {{}}
function mod:validate_connect(accept, vctx)
  self.seen = {{}}
  return msys.core.VALIDATE_CONT
end
function mod:validate_ehlo(str, accept, vctx)
  self.seen[#self.seen + 1] = tostring(str)
  if #self.seen >= 3 then vctx:set_code(550, "5.7.0 too many greetings") end
  return msys.core.VALIDATE_CONT
end
function mod:validate_mailfrom(str, accept, vctx)
  vctx:set(msys.core.VCTX_MESS, "from", tostring(str))
  if vctx:get(msys.core.VCTX_CONN, "can_relay") != nil then vctx:set_code(421, "4.7.1 unexpected") end
  return msys.core.VALIDATE_CONT
end
function mod:validate_dealloc()
  local f = io.open("{record}", "a")
  f:write(table.concat(self.seen, ",") .. "\\n")
  f:close()
end
msys.registerModule("counter", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    assert raw.command("EHLO one")[0] == 250
    assert raw.command("HELO two")[0] == 250
    assert raw.command("EHLO three") == (550, "550 5.7.0 too many greetings")
    assert raw.command("MAIL FROM:<a@b.test>")[0] == 250
    raw.command("QUIT")
    raw.closed()
    import time
    for _ in range(50):
        if record.exists():
            break
        time.sleep(0.05)
    assert record.read_text() == "one,two,three\n"


def test_connect_callout_can_refuse_the_session(server_factory):
    server = policy_server(server_factory, {"gate": """
local mod = {}
function mod:validate_connect(accept, vctx)
  vctx:disconnect(554, "5.7.1 no service for you")
  return msys.core.VALIDATE_DONE
end
msys.registerModule("gate", mod)
"""}).start()
    raw = Raw(server.port)
    assert raw.reply() == (554, "554 5.7.1 no service for you")
    assert raw.closed()


def test_data_callouts_run_before_the_message_is_spooled(server_factory):
    server = policy_server(server_factory, {"content": """
local mod = {}
function mod:validate_data_spool_each_rcpt(msg, accept, vctx)
  if msg:context_get(msys.core.VCTX_MESS, "rcptto_localpart") == "blocked" then
    vctx:set_code(550, "5.7.1 recipient blocked by content policy")
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("content", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<fine@example.test>")
    raw.command("RCPT TO:<blocked@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: x\r\n\r\nbody\r\n.") == (550, "550 5.7.1 recipient blocked by content policy")
    assert server.records() == {}


def test_init_returning_false_stops_the_start_and_syntax_errors_name_the_line(server_factory):
    server = policy_server(server_factory, {"initfail": """
local mod = {}
function mod:init() return false end
msys.registerModule("initmod", mod)
"""})
    result = subprocess.run([BIN, "serve", "--config", str(server.config)] + ROOT_FLAG, capture_output=True, text=True, timeout=60)
    # A clean exit with the reason: nothing made before init (the HTTP client, thread pools) is left to crash on.
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Fatal error" not in result.stderr
    assert "module initmod (initfail.lua): init failed: init did not return true" in result.stderr
    (server.directory / "initfail.lua").write_text("local mod = {}\nfunction mod:validate_ehlo(\n  return 0\nend\n")
    result = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert result.returncode == 2
    assert 'script "initfail": initfail.lua:3:' in result.stderr


def test_script_errors_reach_the_paniclog(server_factory):
    server = policy_server(server_factory, {"bad": """
local mod = {}
function mod:validate_ehlo(str, accept, vctx)
  print("greeted by", tostring(str), 42)
  msys.log(msys.core.LOG_WARNING, "logged", "too")
  error("no greeting today")
end
msys.registerModule("ehlomod", mod)
"""})
    server.config.write_text(server.config.read_text() + 'ec_logger "ec_logger" { paniclog = "log/paniclog.ec" }\n')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    assert raw.command("EHLO c")[0] == 451
    import re
    panic = (server.directory / "log" / "paniclog.ec").read_text()
    assert re.search(r"^\d{10}:scriptlet: validate_ehlo error: bad\.lua:6: no greeting today", panic, re.M), panic
    assert re.search(r"^\d{10}:scriptlet: ehlomod error: bad\.lua:6: no greeting today", panic, re.M), panic
    assert re.search(r"^\tstack traceback:", panic, re.M), panic
    assert re.search(r"^\d{10}:scriptlet: greeted by\tc\t42$", panic, re.M), panic
    assert re.search(r"^\d{10}:scriptlet: logged too$", panic, re.M), panic


def test_msys_sleep_suspends_the_session_not_the_server(server_factory):
    """A callout that sleeps 1 s in 5 sessions at once: all finish in about 1 s, and a 6th
    session's greeting is not delayed (one event loop serves them all)."""
    import threading
    import time
    server = policy_server(server_factory, {"slow": """
local mod = {}
function mod:validate_mailfrom(str, accept, vctx)
  if !msys.asyncOk() then vctx:set_code(451, "4.3.0 not async") end
  msys.sleep(1)
  vctx:set(msys.core.VCTX_MESS, "slept", "yes")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("slow", mod)
"""})
    server.config.write_text(server.config.read_text())
    server.start()
    results = []

    def client():
        raw = Raw(server.port)
        raw.reply()
        raw.command("EHLO c")
        started = time.time()
        results.append((raw.command("MAIL FROM:<a@b.test>")[0], time.time() - started))

    threads = [threading.Thread(target=client) for _ in range(5)]
    started = time.time()
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    probe = Raw(server.port)
    greeting_started = time.time()
    assert probe.reply()[0] == 220
    assert probe.command("NOOP")[0] == 250
    greeting_delay = time.time() - greeting_started
    for thread in threads:
        thread.join()
    total = time.time() - started
    assert [code for code, _ in results] == [250] * 5
    assert all(0.9 <= elapsed < 3 for _, elapsed in results), results
    assert total < 3.5, total
    assert greeting_delay < 0.5, greeting_delay


def test_hook_points_routing_domain_and_final_validation(server_factory):
    server = policy_server(server_factory, {"hooks": """
require("msys.core")
local mod = {}
-- reroute all mail via example.com (the example of Momentum's msys.registerModule page, as written)
function mod:core_config_get_message_routing_domain(scope, msg, buff)
  buff:set("example.com");
  return #buff;
end
function mod:core_final_validation(msg, accept, vctx)
  if msg:context_get(msys.core.VCTX_MESS, "mailfrom_localpart") == "late" then
    vctx:set_code(554, "5.7.1 refused at final validation")
  end
end
function mod:validate_rcptto_list(list, vctx)
  vctx:set(msys.core.VCTX_MESS, "listed", (vctx:get(msys.core.VCTX_MESS, "listed") or 0) + 1)
  if tonumber(vctx:get(msys.core.VCTX_MESS, "listed")) > 2 then vctx:set_code(452, "4.5.3 two is enough") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("hooks", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<early@b.test>")
    assert raw.command("RCPT TO:<x@example.test>")[0] == 250
    assert raw.command("RCPT TO:<y@example.test>")[0] == 250
    assert raw.command("RCPT TO:<z@example.test>") == (452, "452 4.5.3 two is enough")
    raw.command("DATA")
    code, text = raw.command("Subject: x\r\n\r\nbody\r\n.")
    assert code == 250
    (envelope, _), = server.records().values()
    assert envelope["routing_domain"] == "example.com"
    assert [r["address"] for r in envelope["recipients"]] == ["x@example.test", "y@example.test"]
    raw.command("MAIL FROM:<late@b.test>")
    raw.command("RCPT TO:<x@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: x\r\n\r\nbody\r\n.") == (554, "554 5.7.1 refused at final validation")
    assert len(server.records()) == 1


def test_msg_headers_and_body_in_data_phase(server_factory):
    server = policy_server(server_factory, {"headers": """
local mod = {}
function mod:validate_data(msg, accept, vctx)
  local subjects = msg:header("subject")
  if #subjects == 1 and string.find(subjects[1], "URGENT") then
    vctx:set_code(550, "5.7.1 no shouting")
    return msys.core.VALIDATE_DONE
  end
  msg:header("X-Policy", "seen " .. #msg:body() .. " octets of body")
  msg:header("X-Remove-Me", "")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("headers", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")

    def send(message):
        raw.command("MAIL FROM:<a@b.test>")
        raw.command("RCPT TO:<x@example.test>")
        raw.command("DATA")
        return raw.command(message + "\r\n.")

    assert send("Subject: URGENT\r\n folded part\r\n\r\nbody") == (550, "550 5.7.1 no shouting")
    code, text = send("Subject: calm\r\nX-Remove-Me: 1\r\n\r\nhello\r\nworld")
    assert code == 250
    (_, data), = server.records().values()
    stored = data.split(b"\r\n", 3)[3]  # after the three Received: lines
    assert stored == b"Subject: calm\r\nX-Policy: seen 14 octets of body\r\n\r\nhello\r\nworld\r\n"


def test_msys_dnslookup_through_a_real_dns_server(server_factory, dns_server):
    server = policy_server(server_factory, {"dns": """
local mod = {}
local function show(t, err)
  if not t then return "nil:" .. err end
  local parts = {}
  for _, v in ipairs(t) do parts[#parts + 1] = type(v) == "table" and (v.pref .. "=" .. v.value) or v end
  return table.concat(parts, ",")
end
function mod:validate_mailfrom(str, accept, vctx)
  local answers = {
    show(msys.dnsLookup("host.dnstest")), show(msys.dnsLookup("host.dnstest", "AAAA")),
    show(msys.dnsLookup("mail.dnstest", "MX")), show(msys.dnsLookup("mail.dnstest", "mx", { priority = true })),
    show(msys.dnsLookup("txt.dnstest", "TXT")), show(msys.dnsLookup("1.2.3.4", "PTR")),
    show(msys.dnsLookup("nothing.dnstest")),
  }
  vctx:set_code(250, "2.1.0 " .. table.concat(answers, " "))
  return msys.core.VALIDATE_CONT
end
function mod:validate_rcptto(msg, str, accept, vctx)
  msys.dnsLookup("host.dnstest", "SRV")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("dns", mod)
"""})
    server.config.write_text(server.config.read_text() + f'dns_nameservers = ( "{dns_server}" )\n')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    code, text = raw.command("MAIL FROM:<a@b.test>")
    assert code == 250
    assert text == ("250 2.1.0 192.0.2.10 2001:db8::10 mx1.mail.dnstest,mx2.mail.dnstest 10=mx1.mail.dnstest,20=mx2.mail.dnstest "
                    "v=spf1 -all host.dnstest nil:NXDOMAIN")
    assert raw.command("RCPT TO:<x@example.test>")[0] == 451  # an invalid type raises


def test_cached_dns_answers_go_on_at_once_and_a_script_looping_on_them_still_ends(server_factory, dns_server):
    """An answer in the resolver's cache lets the script go on without waiting; a script that
    looks the same name up forever still gives the event loop back and meets idle_time."""
    server = policy_server(server_factory, {"cached": """
local mod = {}
function mod:validate_mailfrom(str, accept, vctx)
  local right = 0
  for i = 1, 1000 do
    local answer = msys.dnsLookup("host.dnstest")
    if answer and answer[1] == "192.0.2.10" then right = right + 1 end
  end
  vctx:set_code(250, "2.1.0 " .. right .. " right answers")
  return msys.core.VALIDATE_CONT
end
function mod:validate_rcptto(msg, str, accept, vctx)
  while true do msys.dnsLookup("host.dnstest") end
end
msys.registerModule("cached", mod)
"""}, body='  relay_domains = ( "example.test" )\n  idle_time = 2')
    server.config.write_text(server.config.read_text() + f'dns_nameservers = ( "{dns_server}" )\n')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert raw.command("MAIL FROM:<a@b.test>") == (250, "250 2.1.0 1000 right answers")
    started = time.monotonic()
    code, text = raw.command("RCPT TO:<x@example.test>")
    assert code == 451, text
    assert time.monotonic() - started < 10
    assert raw.command("NOOP")[0] == 250


def test_msys_readfile(server_factory, tmp_path):
    blocklist = tmp_path / "blocked.txt"
    blocklist.write_text("evil.test\nworse.test\n")
    server = policy_server(server_factory, {"files": f"""
local mod = {{}}
function mod:validate_mailfrom(str, accept, vctx)
  local list, err = msys.readfile("file://{blocklist}")
  local missing, why = msys.readfile("{tmp_path}/absent.txt")
  local domain = vctx:get(msys.core.VCTX_MESS, "mailfrom_domain")
  if list and string.find(list, domain .. "\\n", 1, true) then
    vctx:set_code(550, "5.7.1 " .. domain .. " is blocked (" .. tostring(missing) .. ", " .. why .. ")")
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("files", mod)
"""}).start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    assert raw.command("MAIL FROM:<a@fine.test>")[0] == 250
    raw.command("RSET")
    assert raw.command("MAIL FROM:<a@worse.test>") == (550, f"550 5.7.1 worse.test is blocked (nil, {tmp_path}/absent.txt: no such file)")


def test_vctx_recipient_list_and_tarpit(server_factory):
    server = policy_server(server_factory, {"recipients": """
local mod = {}
function mod:validate_connect(accept, vctx)
  vctx:tarpit(0.5)
  return msys.core.VALIDATE_CONT
end
function mod:validate_rcptto(msg, str, accept, vctx)
  if vctx:recipient_list()[0] == nil then vctx:add_recipient("archive@example.test") end
  return msys.core.VALIDATE_CONT
end
function mod:validate_rcptto_list_final(node, vctx)
  vctx:remove_recipient({ "<drop@example.test>" })
  return msys.core.VALIDATE_CONT
end
function mod:validate_data(msg, accept, vctx)
  if msg:context_get(msys.core.VCTX_MESS, "mailfrom_localpart") == "late" then vctx:add_recipient("x@example.test") end
  return msys.core.VALIDATE_CONT
end
function mod:validate_data_spool_each_rcpt(msg, accept, vctx)
  if msg:context_get(msys.core.VCTX_MESS, "mailfrom_localpart") == "later" then vctx:add_recipient("y@example.test") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("recipients", mod)
"""}).start()
    import time
    started = time.time()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    assert time.time() - started >= 0.45  # tarpitted
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<first@example.test>")
    raw.command("RCPT TO:<drop@example.test> NOTIFY=NEVER")
    raw.command("RCPT TO:<last@example.test> NOTIFY=SUCCESS")
    raw.command("DATA")
    assert raw.command("Subject: r\r\n\r\nx\r\n.")[0] == 250
    (envelope, _), = server.records().values()
    assert [(r["address"], r.get("notify")) for r in envelope["recipients"]] == [
        ("archive@example.test", None), ("first@example.test", None), ("last@example.test", "SUCCESS")]
    # validate_data may still add one (as Momentum's manual does); the per-recipient callouts
    # see the final list, and after them changing it raises.
    raw.command("MAIL FROM:<late@b.test>")
    raw.command("RCPT TO:<first@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: r\r\n\r\nx\r\n.")[0] == 250
    late = [e for e, _ in server.records().values() if e["mail_from"] == "late@b.test"][0]
    assert [r["address"] for r in late["recipients"]] == ["archive@example.test", "first@example.test", "x@example.test"]
    raw.command("MAIL FROM:<later@b.test>")
    raw.command("RCPT TO:<first@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: r\r\n\r\nx\r\n.")[0] == 451
    assert "vctx:add_recipient: the recipient list is final" in server.log.read_text()


def test_recipient_list_is_0_based_as_the_manuals_example_reads_it(server_factory):
    # Momentum's manual, vctx:recipient_list: its example, unchanged.
    server = policy_server(server_factory, {"manual": """
require("msys.core");
require("msys.extended.message");
require("msys.extended.vctx");

local mod = {};

local function sum_table(tbl)
  if (tbl == nil) then
    return "";
  end
  local sum = "";
  for i=0,#tbl do
    sum = sum..tbl[i].." ";
  end
  return sum;
end

function mod:validate_data(str, accept, vctx)
  vctx:add_recipient("mailfrom@messagesystems.com");
  local addrs = vctx:recipient_list();
  print ("validate_mailfrom:rcpts: "..sum_table(addrs));
  if addrs[0] == "one@example.test" and vctx:recipient_list({ [0] = "zero@example.test", "one@example.test" }) then
    print ("replaced: "..sum_table(vctx:recipient_list()));
  end
  return msys.core.VALIDATE_CONT;
end

msys.registerModule("validate_data", mod);
"""})
    server.config.write_text(server.config.read_text() + 'ec_logger "ec_logger" { paniclog = "log/paniclog.ec" }\n')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO c")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<one@example.test>")
    raw.command("RCPT TO:<two@example.test>")
    raw.command("DATA")
    assert raw.command("Subject: r\r\n\r\nx\r\n.")[0] == 250
    panic = (server.directory / "log" / "paniclog.ec").read_text()
    assert ":scriptlet: validate_mailfrom:rcpts: one@example.test two@example.test mailfrom@messagesystems.com \n" in panic
    assert ":scriptlet: replaced: zero@example.test one@example.test \n" in panic
    (envelope, _), = server.records().values()
    assert [r["address"] for r in envelope["recipients"]] == ["zero@example.test", "one@example.test"]


def test_predefined_context_keys(server_factory):
    server = policy_server(server_factory, {"keys": """
local mod = {}
function mod:validate_rcptto(msg, str, accept, vctx)
  local keys = {}
  for _, k in ipairs({ "ehlo_string", "can_relay", "trusted", "connection_message_count", "connection_rcpt_count" }) do
    keys[#keys + 1] = k .. "=" .. tostring(vctx:get(msys.core.VCTX_CONN, k))
  end
  for _, k in ipairs({ "mailfrom_domain", "rcptto_localpart", "rcptto_domain", "message_rcpt_count" }) do
    keys[#keys + 1] = k .. "=" .. tostring(vctx:get(msys.core.VCTX_MESS, k))
  end
  vctx:set_code(250, "2.1.5 " .. table.concat(keys, " "))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("keys", mod)
"""}, body='  relay_domains = ( "example.test" )\n  context = [ trusted = "yes" ]')
    server.start()
    raw = Raw(server.port)
    raw.reply()
    raw.command("EHLO client.example")
    raw.command("MAIL FROM:<a@b.test>")
    raw.command("RCPT TO:<one@example.test>")
    assert raw.command("RCPT TO:<two@Example.test>")[1] == (
        "250 2.1.5 ehlo_string=client.example can_relay=nil trusted=yes connection_message_count=0 connection_rcpt_count=2 "
        "mailfrom_domain=b.test rcptto_localpart=two rcptto_domain=Example.test message_rcpt_count=2")


def test_gc_pause_and_stepmul_reach_the_policy_states(server_factory):
    script = ('local m = {}\nfunction m:validate_connect(accept, vctx)\n'
              '  local pause = collectgarbage("setpause", 200); collectgarbage("setpause", pause)\n'
              '  local stepmul = collectgarbage("setstepmul", 200); collectgarbage("setstepmul", stepmul)\n'
              '  print("gc " .. pause .. " " .. stepmul)\n  return msys.core.VALIDATE_CONT\nend\nmsys.registerModule("gc", m)\n')
    server = server_factory("", extra='alerting {}\nscriptlet "scriptlet" {\n  gc_pause = 400\n  gc_stepmul = 300\n'
                                      '  script "gc" { source = "gc" }\n}\n')
    (server.directory / "gc.lua").write_text(script)
    server.start()
    raw = Raw(server.port)
    assert raw.reply()[0] == 220
    raw.close()
    deadline = time.time() + 10
    while "gc 400 300" not in server.log.read_text() and time.time() < deadline:
        time.sleep(0.05)
    assert "gc 400 300" in server.log.read_text()
