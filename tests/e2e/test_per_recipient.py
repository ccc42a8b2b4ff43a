"""Per-recipient messages: in the per-recipient callouts a script changes that recipient's
message only, as in Momentum, where each recipient has its own message there. A real client
sends to the real impulse, which delivers to our recording sink through a real DNS server."""
import json

from test_delivery import deliver_config, mainlog, mx_dns, send, sinks, wait_until  # noqa: F401 (fixtures)
from test_delivery import dsn_parts

POLICY = """
local mod = {}
function mod:validate_data_spool_each_rcpt(msg, accept, vctx)
  local lp, dom = msg:rcptto():match("^(.*)@(.*)$")
  if lp == "drop" then
    msg:discard("not this one")
    return msys.core.VALIDATE_CONT
  end
  -- VERP: each recipient's own bounce address.
  msg:mailfrom("bounces+" .. lp .. "=" .. dom .. "@sender.test")
  if lp == "rerouted" then msg:routing_domain("two.itest") end
  return msys.core.VALIDATE_CONT
end
function mod:validate_set_binding(msg)
  -- Runs for each recipient's message, after its each_rcpt callout.
  local lp = msg:rcptto():match("^(.*)@")
  if lp == "vip" then
    if msg:mailfrom() ~= "bounces+vip=sink.test@sender.test" then error("set_binding saw " .. msg:mailfrom()) end
    msg:binding("vip")
  end
  return msys.core.VALIDATE_CONT
end
function mod:core_final_validation(msg, accept, vctx)
  -- A message-wide callout sees the message's own sender.
  if msg:mailfrom() ~= "alice@sender.test" then error("final validation saw " .. msg:mailfrom()) end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("per_recipient", mod)
"""


def records_from(server, sender):
    return [(envelope, body) for envelope, body in server.records().values() if envelope["mail_from"] == sender]


def test_sender_routing_binding_and_discard_apply_to_one_recipient(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                f'domain "two.itest" {{ remote_smtp_port = {sink.port} }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'binding "vip" { bind_address = "127.0.0.3" }\n'
                'scriptlet "scriptlet" { script "per_recipient" { source = "per_recipient" } }'))
    (server.directory / "per_recipient.lua").write_text(POLICY)
    server.start()
    send(server.port, ["vip@sink.test", "drop@sink.test", "plain@sink.test", "permfail@sink.test",
                       "rerouted@sink.test"])
    # The spool keeps one copy of the body and what differs per recipient.
    (envelope, _), = records_from(server, "alice@sender.test")
    assert [r["address"] for r in envelope["recipients"]] == [
        "vip@sink.test", "plain@sink.test", "permfail@sink.test", "rerouted@sink.test"]
    by_address = {r["address"]: r for r in envelope["recipients"]}
    for address, recipient in by_address.items():
        local, domain = address.split("@")
        assert recipient["mail_from"] == f"bounces+{local}={domain}@sender.test"
    assert by_address["vip@sink.test"]["binding"] == "vip" and "binding" not in envelope
    assert all("binding" not in r for a, r in by_address.items() if a != "vip@sink.test")
    assert by_address["rerouted@sink.test"]["routing_domain"] == "two.itest" and "routing_domain" not in envelope
    assert "scriptlet: recipient discarded by policy" in server.log.read_text()
    assert "drop@sink.test" in server.log.read_text() and "not this one" in server.log.read_text()

    # Three deliveries, each with its recipient's own sender (one transaction each), and one
    # bounce, to the failed recipient's own VERP address.
    messages = sink.wait_for(4)
    delivered = {m.recipients[0]: m for m in messages if m.mail_from}
    assert sorted(delivered) == ["plain@sink.test", "rerouted@sink.test", "vip@sink.test"]
    for address, message in delivered.items():
        local, domain = address.split("@")
        assert message.recipients == [address]
        assert message.mail_from == f"bounces+{local}={domain}@sender.test"
    assert delivered["vip@sink.test"].peer[0] == "127.0.0.3"
    assert delivered["plain@sink.test"].peer[0] == "127.0.0.1"
    bounce = next(m for m in messages if m.mail_from == "")
    assert bounce.recipients == ["bounces+permfail=sink.test@sender.test"]
    _, blocks = dsn_parts(bounce.data)
    assert blocks[1]["Final-Recipient"] == "rfc822; permfail@sink.test"

    # The logs name each recipient's own sender, binding and queue.
    received = wait_until(lambda: len(mainlog(server, "R")) >= 5 and mainlog(server, "R"), what="R records")
    # R: … rcpt local part, rcpt domain, sender local part, sender domain, … binding group, binding
    reception = {line[5]: line for line in received if line[6] == "sink.test"}
    assert sorted(reception) == ["permfail", "plain", "rerouted", "vip"]
    assert reception["vip"][7:9] == ["bounces+vip=sink.test", "sender.test"] and reception["vip"][13] == "vip"
    assert reception["plain"][7:9] == ["bounces+plain=sink.test", "sender.test"] and reception["plain"][13] == "default"
    # D: … domain (the queue), bytes, binding group, binding
    done = wait_until(lambda: len(mainlog(server, "D")) >= 4 and mainlog(server, "D"), what="D records")
    assert sorted((line[5], line[8]) for line in done) == [
        ("sender.test", "default"), ("sink.test", "default"), ("sink.test", "vip"), ("two.itest", "default")]


def test_a_message_whose_every_recipient_is_discarded_is_discarded(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'scriptlet "scriptlet" { script "per_recipient" { source = "per_recipient" } }'))
    (server.directory / "per_recipient.lua").write_text(POLICY)
    server.start()
    send(server.port, ["drop@sink.test"])  # 250: the client hears what it would for a spooled message
    send(server.port, ["plain@sink.test"])
    assert sink.wait_for(1)[0].recipients == ["plain@sink.test"]
    assert len(server.records()) == 1  # nothing of the discarded message was spooled
    assert "scriptlet: message discarded by policy" in server.log.read_text()
    # A single recipient with its own sender: the sender is stored once, as the message's.
    (envelope, _), = records_from(server, "bounces+plain=sink.test@sender.test")
    assert envelope["recipients"] == [{"address": "plain@sink.test"}]
    assert json.dumps(envelope).count("bounces+plain") == 1


def test_what_differs_per_recipient_survives_a_restart(server_factory, mx_dns, sinks):
    sink = sinks()
    config = deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'binding "vip" { bind_address = "127.0.0.3" }\n'
                'scriptlet "scriptlet" { script "per_recipient" { source = "per_recipient" } }')
    held = dict(config, global_options=config["global_options"] + "\nsuspend_delivery = true\n")
    server = server_factory(**held)
    (server.directory / "per_recipient.lua").write_text(POLICY)
    server.start()
    send(server.port, ["vip@sink.test", "plain@sink.test"])
    assert server.stop() == 0
    server.config.write_text(server.config.read_text().replace("suspend_delivery = true", ""))
    server.start()  # validate_set_binding runs again, per recipient
    delivered = {m.recipients[0]: m for m in sink.wait_for(2)}
    assert delivered["vip@sink.test"].mail_from == "bounces+vip=sink.test@sender.test"
    assert delivered["vip@sink.test"].peer[0] == "127.0.0.3"
    assert delivered["plain@sink.test"].mail_from == "bounces+plain=sink.test@sender.test"
    assert delivered["plain@sink.test"].peer[0] == "127.0.0.1"


def test_a_message_wide_callout_may_set_the_null_sender(server_factory):
    from test_policy import policy_server
    server = policy_server(server_factory, {"null": """
local mod = {}
function mod:validate_data(msg, accept, vctx)
  msg:mailfrom("")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("null", mod)
"""}).start()
    send(server.port, ["someone@example.test"])
    (envelope, _), = server.records().values()
    assert envelope["mail_from"] == "" and "not a valid address" not in server.log.read_text()
