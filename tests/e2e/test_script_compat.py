"""What public Momentum scripts expect of the msys library and objects, each where Impulse once
differed: json as a global, msys.counter functions taking a path string, a relative mask in
msys.audit.inbound_session_count, ec_string's `.buffer`, and an IPv6 ec_sockaddr printed in
Momentum's form."""
import smtplib

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
    stanza = 'alerting {}\nscriptlet "scriptlet" {\n  script "compat" { source = "compat" }\n}\n'
    server = server_factory('  relay_domains = ( "example.test" )', listen="[::1]:0", extra=stanza)
    (server.directory / "compat.lua").write_text(POLICY)
    server.start()
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
