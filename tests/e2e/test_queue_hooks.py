"""The queue's hook points, with the real binary, a real DNS server and our recording sinks:
core_ec_message_enqueue (a module takes or refuses a recipient), core_pre_mailq_message_requeue
and core_get_outbound_tls_parameters with msys.tls_params.set (verified TLS to a next hop)."""
import subprocess

from test_delivery import deliver_config, mainlog, mx_dns, send, sinks, wait_until  # noqa: F401 (fixtures)

ENQUEUE = """
local mod = {}
function mod:core_ec_message_enqueue(msg, now)
  local lp = msg:rcptto():match("^(.*)@")
  msg:context_set(msys.core.ECMESS_CTX_MESS, "seen_at_enqueue", lp)
  -- The names as Momentum's manual writes them: bare globals.
  if lp == "taken" then return EC_MESSAGE_ENQUEUE_HOOK_OK end
  if lp == "refused" then return msys.core.EC_MESSAGE_ENQUEUE_HOOK_ERR end
  return EC_MESSAGE_ENQUEUE_HOOK_CONT
end
function mod:core_pre_mailq_message_requeue(msg, now)
  local _, seen = msg:context_exists_and_get(msys.core.ECMESS_CTX_MESS, "seen_at_enqueue")
  print("requeued " .. msg:rcptto() .. " seen at enqueue as " .. tostring(seen))
end
msys.registerModule("queue_hooks", mod)
"""


def test_an_enqueue_hook_takes_or_refuses_recipients_and_requeues_are_seen(server_factory, mx_dns, sinks):
    sink = sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'scriptlet "scriptlet" { script "queue_hooks" { source = "queue_hooks" } }'))
    (server.directory / "queue_hooks.lua").write_text(ENQUEUE)
    server.start()
    send(server.port, ["taken@sink.test", "refused@sink.test", "plain@sink.test", "tempfail@sink.test"])
    delivered = sink.wait_for(1)[0]
    assert delivered.recipients == ["plain@sink.test"]
    failed = wait_until(lambda: mainlog(server, "P"), what="the refused recipient's P record")
    assert [(line[5], line[13]) for line in failed] == [
        ("sink.test", "554 5.3.0 [internal] refused by policy when queued")]
    assert len(wait_until(lambda: len(mainlog(server, "D")) >= 2 and mainlog(server, "D"), what="D records")) == 2
    log = wait_until(lambda: "requeued tempfail@sink.test" in server.log.read_text() and server.log.read_text(),
                     timeout=10, what="the requeue hook")
    assert "requeued tempfail@sink.test seen at enqueue as tempfail" in log
    # Taken and refused recipients are settled: nothing else arrives, and no bounce is sent.
    assert all(m.recipients == ["plain@sink.test"] for m in sink.messages)


TLS_POLICY = """
require("msys.tls_params")
local mod = {}
function mod:core_get_outbound_tls_parameters(msg, params)
  local domain = msg:rcptto():match("@(.*)$")
  if domain == "sender.test" then
    msys.tls_params.set(params, "protocols", "TLSv1.3")  -- not a setting Impulse knows: an error
  end
  params.use_tls = 2
  msys.tls_params.set(params, "ca", "%s")
end
msys.registerModule("tls_hook", mod)
"""


def make_certificate(directory, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    return cert, key


def test_a_tls_hook_requires_verified_tls_for_its_connections(server_factory, mx_dns, sinks, tmp_path):
    right = make_certificate(tmp_path, "mx.one.itest")
    wrong = make_certificate(tmp_path, "elsewhere.test")
    # Both sinks present certificates one CA file vouches for; only one names its MX host.
    ca = tmp_path / "ca.pem"
    ca.write_bytes(right[0].read_bytes() + wrong[0].read_bytes())
    good, bad, plain = sinks(starttls=right), sinks(starttls=wrong), sinks()
    server = server_factory(**deliver_config(
        mx_dns, f'domain "one.itest" {{ remote_smtp_port = {good.port} }}\n'
                f'domain "two.itest" {{ remote_smtp_port = {bad.port} }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{plain.port}" }}\n'
                'scriptlet "scriptlet" { script "tls_hook" { source = "tls_hook" } }'))
    (server.directory / "tls_hook.lua").write_text(TLS_POLICY % ca)
    server.start()
    send(server.port, ["a@one.itest"])
    send(server.port, ["b@two.itest"])
    send(server.port, ["c@sender.test"])
    assert good.wait_for(1)[0].tls is True
    transient = wait_until(lambda: len(mainlog(server, "T")) >= 1 and mainlog(server, "T"), what="T records")
    two = [line for line in transient if line[5] == "two.itest"]
    assert two and "TLS" in two[0][13], transient
    assert bad.messages == []
    # The hook that set an unknown parameter failed: the configuration's TLS (none required) applies.
    assert plain.wait_for(1)[0].recipients == ["c@sender.test"]
    log = server.log.read_text()
    assert "core_get_outbound_tls_parameters failed" in log and "unknown parameter 'protocols'" in log


def test_recovered_recipients_go_through_the_enqueue_hook(server_factory, mx_dns, sinks):
    sink = sinks()
    config = deliver_config(mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                                    'scriptlet "scriptlet" { script "queue_hooks" { source = "queue_hooks" } }')
    held = dict(config, global_options=config["global_options"] + "\nsuspend_delivery = true\n")
    server = server_factory(**held)
    (server.directory / "queue_hooks.lua").write_text("local mod = {}\nmsys.registerModule('none', mod)\n")
    server.start()
    send(server.port, ["taken@sink.test", "plain@sink.test"])
    assert server.stop() == 0
    (server.directory / "queue_hooks.lua").write_text(ENQUEUE)
    server.config.write_text(server.config.read_text().replace("suspend_delivery = true", ""))
    server.start()
    assert sink.wait_for(1)[0].recipients == ["plain@sink.test"]
    assert len(wait_until(lambda: len(mainlog(server, "D")) >= 2 and mainlog(server, "D"), what="D records")) == 2
    assert all(m.recipients == ["plain@sink.test"] for m in sink.messages)
