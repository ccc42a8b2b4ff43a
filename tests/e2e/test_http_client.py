"""msys.http.client against a real HTTP server on loopback: a REST look-up deciding RCPT, request
headers and bodies, redirects, and the bounds (a slow server, a huge body) giving the script an
error in bounded time; from a console command too, where the request blocks."""
import http.server
import json
import smtplib
import threading
import time

import pytest

from test_console import console
from test_policy import policy_server


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/check?rcpt="):
            known = self.path.endswith("=good%40foo.com")
            self.reply(200 if known else 404, json.dumps({"known": known}).encode(),
                       [("Content-Type", "application/json"), ("X-Seen", "1"), ("X-Seen", "2")])
        elif self.path == "/redirect":
            self.reply(302, b"", [("Location", "/check?rcpt=good%40foo.com")])
        elif self.path == "/slow":
            time.sleep(5)
            self.reply(200, b"late")
        elif self.path == "/big":
            self.reply(200, b"x" * (5 << 20))
        else:
            self.reply(404, b"no")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        echo = {"body": body.decode(), "token": self.headers.get("X-Token"), "type": self.headers.get("Content-Type")}
        self.reply(201, json.dumps(echo).encode(), [("Content-Type", "application/json")])


@pytest.fixture
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


POLICY = """
require("msys.http.client")
local BASE = "%BASE%"
local mod = {}
function mod:validate_rcptto(msg, rcpt, ac, vctx)
  local address = tostring(msg:rcptto())
  local client = msys.http.client.new()
  local path = "/check?rcpt=" .. string.gsub(address, "@", "%%40")
  if string.find(address, "^slow") then client:set_timeout(1); path = "/slow" end
  if string.find(address, "^big") then path = "/big" end
  if string.find(address, "^redirect") then path = "/redirect" end
  local ok, err = client:do_request("GET", BASE .. path)
  if not ok then
    vctx:set_code(451, "4.3.0 lookup failed: " .. tostring(err))
  elseif client:get_status() ~= 200 then
    vctx:set_code(550, "5.1.1 unknown (" .. client:get_status() .. ")")
  else
    local answer = json.decode(client:get_body())
    local headers = client:get_headers()
    vctx:set_code(250, "2.1.5 known=" .. tostring(answer.known) .. " seen=" .. tostring(headers["x-seen"]))
  end
  return msys.core.VALIDATE_DONE
end
msys.registerModule("rest", mod)
msys.registerControl("post", function(cc)
  local client = msys.http.client.new()
  client:set_header("X-Token: secret")
  client:set_header("Content-Type", "application/json")
  local ok, err = client:do_request("POST", BASE .. "/echo", '{"n": 1}')
  if not ok then print("failed: " .. tostring(err)); return end
  print(client:get_status() .. " " .. client:get_body())
end)
msys.registerControl("bad_url", function(cc)
  local ok, err = pcall(msys.http.client.new().do_request, msys.http.client.new(), "GET", "file:///etc/passwd")
  print(tostring(ok) .. " " .. tostring(err))
end)
"""


def test_rest_lookups_at_rcpt_and_from_the_console(server_factory, web):
    server = policy_server(server_factory, {"rest": POLICY.replace("%BASE%", web)},
                           body='  relay_domains = ( "foo.com" )')
    server.config.write_text(server.config.read_text() + 'Control_Listener {\n  Listen "ctl.sock" { }\n}\n')
    server.start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@source.test")
        code, text = client.rcpt("good@foo.com")
        assert (code, text) == (250, b"2.1.5 known=true seen=1, 2")
        assert client.rcpt("other@foo.com") == (550, b"5.1.1 unknown (404)")
        assert client.rcpt("redirect@foo.com")[0] == 250
        started = time.time()
        code, text = client.rcpt("slow@foo.com")
        assert code == 451 and b"no response within 1" in text, text
        assert time.time() - started < 4
        code, text = client.rcpt("big@foo.com")
        assert code == 451 and b"larger than 4194304 octets" in text, text
    posted = console(server, "post").stdout
    assert posted.startswith("201 "), posted
    assert json.loads(posted[4:]) == {"body": '{"n": 1}', "token": "secret", "type": "application/json"}
    refused = console(server, "bad_url").stdout
    assert refused.startswith("false ") and "http:// or https://" in refused, refused


ENDPOINTS = """
require("msys.httpsrv")
msys.httpsrv.register("GET", "/policy/status", function(session)
  session:response_status_set_std(200, "policy ok " .. session:request_url_get(), "text/plain")
end)
msys.httpsrv.register(nil, "/policy/echo", function(session)
  session:response_header_set("X-Method", session:request_method_get())
  session:response_body_set(json.encode({ body = session:request_body_get(),
                                          token = session:request_header_get("X-Token") }))
  session:response_status_set_std(201, "Created", "application/json")
end)
msys.httpsrv.register("GET", "/policy/fail", function(session) error("the handler failed") end)
local mod = {}
msys.registerModule("endpoints", mod)
"""


def test_script_endpoints_on_the_http_listener(server_factory):
    import re
    import urllib.error
    import urllib.request
    server = policy_server(server_factory, {"endpoints": ENDPOINTS})
    server.config.write_text(server.config.read_text() + 'HTTP_Listener {\n  Listen "127.0.0.1:0" { }\n}\n')
    server.start()
    port = int(re.search(r"HTTP listener on http://127\.0\.0\.1:(\d+) ", server.log.read_text()).group(1))
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/policy/status?x=1", timeout=10) as response:
        assert (response.status, response.read()) == (200, b"policy ok /policy/status?x=1")
    request = urllib.request.Request(base + "/policy/echo", data=b"payload", headers={"X-Token": "t1"}, method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201 and response.headers["X-Method"] == "PUT"
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.read()) == {"body": "payload", "token": "t1"}
    for path, code in (("/policy/fail", 500), ("/nothing", 404)):
        try:
            urllib.request.urlopen(base + path, timeout=10)
            raise AssertionError(path)
        except urllib.error.HTTPError as error:
            assert error.code == code
            if code == 500:
                assert b"the handler failed" in error.read()
    # A method the endpoint was not registered for: not found.
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/policy/status", method="DELETE"), timeout=10)
        raise AssertionError("DELETE")
    except urllib.error.HTTPError as error:
        assert error.code == 404
    big = urllib.request.Request(base + "/policy/echo", data=b"x" * (2 << 20), method="POST")
    try:
        urllib.request.urlopen(big, timeout=10)
        raise AssertionError("2 MiB")
    except urllib.error.HTTPError as error:
        assert error.code == 413
    # The metrics are still there.
    assert b"impulse_" in urllib.request.urlopen(base + "/metrics", timeout=10).read()
