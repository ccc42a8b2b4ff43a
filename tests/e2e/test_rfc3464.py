"""msys.rfc3464: a delivery hook sends a report (send_mdn) that a real sink receives and Python's
email package reads; the report sent back in is read by extract_delivery_status; reply texts
become delivery status fields."""
import email
import smtplib
from email import policy as email_policy

from test_console import console
from test_delivery import deliver_config, mx_dns, send, sinks, wait_until  # noqa: F401 (fixtures)

POLICY = """
require("msys.rfc3464")
local mod = {}
function mod:core_log_permanent_failure_v1(msg, dr, now, note)
  local fields = msys.rfc3464.compute_delivery_status(msg, msys.core.FAILED)
  print("fields " .. fields["Final-Recipient"] .. "|" .. fields["Action"] .. "|" .. fields["Status"])
  local id, err = msys.rfc3464.send_mdn(msg, msys.core.FAILED)
  print("report " .. tostring(id ~= nil) .. " " .. tostring(err))
end
function mod:validate_data(msg, accept, vctx)
  local status = msys.rfc3464.extract_delivery_status(msg)
  if status then
    vctx:set_code(550, "5.7.1 a report: " .. status["Reporting-MTA"] .. "|" .. status["Final-Recipient"] .. "|"
                  .. status["Action"] .. "|" .. status["Status"] .. "|" .. #status.recipients)
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("reports", mod)
msys.registerControl("dsn", function(cc)
  local words = {}
  for i = 1, cc.argc - 1 do words[#words + 1] = cc.argv[i] end
  print(msys.rfc3464.compute_delivery_status_string(table.concat(words, " ")))
end)
"""


def test_a_report_from_a_delivery_hook_is_sent_read_back_and_reply_texts_become_fields(server_factory, mx_dns,
                                                                                       sinks):
    sink = sinks()
    config = deliver_config(
        mx_dns, f'domain "sink.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                f'domain "sender.test" {{ gateway = "127.0.0.1:{sink.port}" }}\n'
                'generate_bounces = false\n'
                'Control_Listener { Listen "ctl.sock" { } }\n'
                'scriptlet "scriptlet" { script "reports" { source = "reports" } }')
    server = server_factory(**config)
    (server.directory / "reports.lua").write_text(POLICY)
    server.start()
    send(server.port, ["permfail@sink.test"])
    report = sink.wait_for(1)[0]
    assert report.mail_from == "" and report.recipients == ["alice@sender.test"]
    message = email.message_from_bytes(report.data, policy=email_policy.compat32)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    status = message.get_payload()[1]
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; impulse.test"
    assert blocks[1]["Final-Recipient"] == "rfc822; permfail@sink.test"
    assert (blocks[1]["Action"], blocks[1]["Status"]) == ("failed", "5.1.1")
    assert "550 5.1.1 no such user here" in blocks[1]["Diagnostic-Code"]
    assert b"Subject: hello" in message.get_payload()[2].as_bytes()
    log = wait_until(lambda: "report true" in server.log.read_text() and server.log.read_text(), what="the hook")
    assert "fields rfc822; permfail@sink.test|failed|5.1.1" in log

    # The report, sent back in, is read by extract_delivery_status.
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo("c")
        client.mail("")
        client.rcpt("someone@sink.test")
        code, text = client.data(report.data)
    assert code == 550
    assert text.decode() == "5.7.1 a report: dns; impulse.test|rfc822; permfail@sink.test|failed|5.1.1|1"

    answer = console(server, "dsn", "550 5.1.1 no such user")  # (text mode: CRLF reads as LF)
    assert answer.stdout == "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n\n"
    assert console(server, "dsn", "421 4.7.0 try later").stdout.startswith("Action: delayed\nStatus: 4.7.0\n")
    assert console(server, "dsn", "250 ok").stdout == "Action: delivered\nStatus: 2.0.0\nDiagnostic-Code: smtp; 250 ok\n\n"
