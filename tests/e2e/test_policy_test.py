"""`impulse policy test` as an operator uses it in CI (docs/policy-test.md): the example transcript
passes, a wrong expectation fails with its place, and DNS, datasource and HTTP answers come from
the transcript, never from the network."""
import subprocess
from pathlib import Path

from conftest import BIN

ROOT = Path(__file__).resolve().parents[2]


def policy_test(config, *transcripts):
    result = subprocess.run([BIN, "policy", "test", "--config", str(config), *map(str, transcripts)],
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def test_the_example_transcript_passes():
    code, out, err = policy_test(ROOT / "examples" / "ecelerity.conf",
                                 ROOT / "examples" / "policy-tests" / "example.txt")
    assert code == 0, out + err
    assert "validate_ehlo: reply 550 5.7.1 bad greeting 192.0.2.7" in out
    assert "context message mail_class = bulk" in out
    assert "header added: X-Impulse-Policy: client=loopback; class=bulk" in out
    assert out.rstrip().endswith("0 failed")
    # Nothing of the run is left in the example's spool or log directories.
    assert not (ROOT / "examples" / "spool" / "queue").exists() or not any(
        (ROOT / "examples" / "spool" / "queue").glob("*.seg"))


POLICY = """
require("msys.core")
require("msys.db")
require("msys.http.client")
local core = msys.core
local mod = {}
function mod:validate_connect(accept, vctx)
  local ip = accept.remote_addr.ip
  local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    local listed = msys.dnsLookup(d .. "." .. c .. "." .. b .. "." .. a .. ".zen.example", "A")
    if listed then
      vctx:set(core.VCTX_CONN, "dnsbl", listed[1])
      vctx:set_code(554, "5.7.1 listed at zen.example")
    end
  end
  return core.VALIDATE_CONT
end
function mod:validate_rcptto(msg, str, accept, vctx)
  local rcpt = msg:rcptto()
  local row = msys.db.fetch_row("users", "SELECT status FROM users WHERE address = ?", { rcpt },
                                { raise_error = false })
  if not row then
    vctx:set_code(550, "5.1.1 no such user")
    return core.VALIDATE_CONT
  end
  vctx:set(core.VCTX_MESS, "user_status", row.status)
  local client = msys.http.client.new()
  local ok = client:do_request("GET", "http://reputation.example/score?rcpt=" .. rcpt)
  if ok and client:get_status() == 200 then
    vctx:set(core.VCTX_MESS, "score", client:get_body())
  end
  return core.VALIDATE_CONT
end
function mod:validate_data(msg, accept, vctx)
  msg:header("X-Score", vctx:get(core.VCTX_MESS, "score") or "none")
  return core.VALIDATE_CONT
end
msys.registerModule("checks", mod)
"""

TRANSCRIPT = """
# Answers that stand in for the network.
dns A 9.2.0.192.zen.example 127.0.0.2
db users "SELECT status FROM users WHERE address = ?" ["ann@example.test"] => [["status"], ["active"]]
db users "SELECT status FROM users WHERE address = ?" ["bob@example.test"] => [["status"]]
http GET http://reputation.example/score?rcpt=ann@example.test => 200 7

client 192.0.2.9
< 554 5.7.1 listed at zen.example
expect context connection dnsbl = 127.0.0.2

client 192.0.2.10
< 220
> EHLO client.test
< 250
> MAIL FROM:<s@sender.test>
< 250
> RCPT TO:<bob@example.test>
< 550 5.1.1 no such user
> RCPT TO:<ann@example.test>
< 250
expect context message user_status = active
expect context message score = 7
> DATA
< 354
> Subject: hi
>
> hello
> .
< 250
expect header X-Score: 7
expect no header X-Other
"""


def write_setup(tmp_path, transcript=TRANSCRIPT):
    (tmp_path / "checks.lua").write_text(POLICY)
    config = tmp_path / "ecelerity.conf"
    config.write_text('spoolbase = "spool"\nrelay_domains = ( "example.test" )\n'
                      'ESMTP_Listener {\n  Listen "127.0.0.1:2525" { }\n}\n'
                      'Datasource "users" { uri = ( "pgsql:host=db.invalid dbname=users" ) }\n'
                      'scriptlet "scriptlet" {\n  script "checks" { source = "checks" }\n}\n')
    path = tmp_path / "checks.txt"
    path.write_text(transcript)
    return config, path


def test_dns_rows_and_http_replies_come_from_the_transcript(tmp_path):
    config, transcript = write_setup(tmp_path)
    code, out, err = policy_test(config, transcript)
    assert code == 0, out + err
    assert "dns A 9.2.0.192.zen.example → 127.0.0.2" in out
    assert "validate_connect: reply 554 5.7.1 listed at zen.example" in out
    # The second client is not listed: its look-up is not in the transcript, so NXDOMAIN.
    assert "dns A 10.2.0.192.zen.example → NXDOMAIN (not in the transcript)" in out
    assert 'db users fetch_row "SELECT status FROM users WHERE address = ?" [bob@example.test] → 0 row(s)' in out
    assert "http GET http://reputation.example/score?rcpt=ann@example.test → 200" in out
    assert "header added: X-Score: 7" in out
    assert "13 expectation(s): 13 held, 0 failed" in out


def test_a_failed_expectation_says_where_and_exits_1(tmp_path):
    broken = TRANSCRIPT.replace("expect header X-Score: 7", "expect header X-Score: 8").replace(
        "< 550 5.1.1 no such user", "< 250")
    config, transcript = write_setup(tmp_path, broken)
    code, out, _ = policy_test(config, transcript)
    assert code == 1
    lines = broken.splitlines()
    rcpt_line = lines.index("> RCPT TO:<bob@example.test>") + 2
    header_line = lines.index("expect header X-Score: 8") + 1
    assert f"{transcript}:{rcpt_line}: FAILED: expected reply 250; got 550 5.1.1 no such user" in out
    assert f"{transcript}:{header_line}: FAILED: expected header X-Score: 8; got X-Score: 7" in out
    assert "2 failed" in out


def test_a_bad_transcript_is_an_error_with_its_line(tmp_path):
    config, transcript = write_setup(tmp_path, "dns A only-two\n")
    code, _, err = policy_test(config, transcript)
    assert code == 2 and f"{transcript}:1:1: error: dns TYPE NAME ANSWER" in err
    config, transcript = write_setup(tmp_path, "> EHLO x\n< 250\n> MAIL FROM:<a@b>\n< 250\n> RCPT TO:<c@example.test>\n"
                                               "< 250\n> DATA\n< 354\n> Subject: x\n")
    code, _, err = policy_test(config, transcript)
    assert code == 2 and "DATA not ended with '> .'" in err
    config, transcript = write_setup(tmp_path, "frobnicate\n")
    code, _, err = policy_test(config, transcript)
    assert code == 2 and f"{transcript}:1:1: error: unknown line 'frobnicate'" in err
