"""msg:mime and MIME parts on real multipart messages (built and read back with Python's email
package, an independent MIME implementation): reading the tree, transfer decoding, editing a
part's body and headers, adding and removing parts, text_replace, read-only trees, and messages
whose MIME structure is broken or hostile, which are still accepted."""
import email
import email.policy
import smtplib
from email.message import EmailMessage

from test_policy import policy_server

POLICY = """
local mod = {}
local function describe(part, depth, out)
  out[#out + 1] = string.rep(" ", depth) .. part:content_type() .. (part:is_multipart() and "" or (" " .. #part:body()))
  for _, child in ipairs(part:children()) do describe(child, depth + 1, out) end
end
function mod:validate_data(msg, ac, vctx)
  local subject = msg:header("Subject")[1] or ""
  local top = msg:mime()
  if subject == "describe" then
    local out = {}
    describe(top, 0, out)
    msg:header("X-Tree", table.concat(out, "|"))
    msg:header("X-From-Domain", table.concat(top:address_header("From", "domain"), ","))
  elseif subject == "edit" then
    -- Decode the base64 text part, change it, add a footer part, drop the attachment.
    local text, html, attachment = top.child.child, top.child.child.next, top.child.next
    assert(text:content_type() == "text/plain" and text:transfer_encoding() == "base64", text:transfer_encoding())
    assert(attachment:filename() == "data.bin", tostring(attachment:filename()))
    text:body(text:body() .. "Edited: caf\\195\\169.\\r\\n")
    html:header("X-Part", "html")
    attachment:unlink()
    local footer = msg:makePart("text/plain; charset=utf-8", "-- \\r\\nSent through Impulse\\r\\n")
    top:addLastChild(footer)
    local ok, err = pcall(top.addLastChild, top, footer)
    msg:header("X-Twice", ok and "accepted" or "refused")
  elseif subject == "replace" then
    msg:text_replace("secret-\\\\d+", "[redacted]")
  elseif subject == "readonly" then
    local tree = msg:mime(true)
    local ok, err = pcall(tree.body, tree, "x")
    msg:header("X-Readonly", ok and "changed" or err)
  elseif subject == "wrap" then
    -- A single-part message wrapped in a new multipart/mixed with a second part.
    local container = msg:makeContainer("multipart/mixed")
    assert(container:is_multipart() and container:boundary())
    local part = msg:makePart("text/plain", "second part\\r\\n", msys.core.EC_MIME_TE_7BIT)
    container:addLastChild(part)
    msg:header("X-Container", container:raw():match("^Content%-Type: multipart/mixed; boundary=") and "ok" or "bad")
  else
    local out = {}
    describe(top, 0, out)
    msg:header("X-Tree", tostring(#out))
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("mime", mod)
"""


def multipart(subject):
    message = EmailMessage()
    message["From"] = "a@source.test"
    message["To"] = "b@example.test"
    message["Subject"] = subject
    message.set_content("Hello there.\n", cte="base64")
    message.add_alternative("<p>Hello there.</p>\n", subtype="html")
    message.make_mixed()
    message.add_attachment(b"\x00\x01\x02binary", maintype="application", subtype="octet-stream",
                           filename="data.bin")
    return message.as_bytes(policy=email.policy.SMTP)


def spooled(server):
    records = server.records()
    return [email.message_from_bytes(body, policy=email.policy.default) for _, (_, body) in sorted(records.items())]


def send(server, data):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("a@source.test", ["b@example.test"], data)


def test_reading_and_editing_parts(server_factory):
    server = policy_server(server_factory, {"mime": POLICY}).start()
    send(server, multipart("describe"))
    send(server, multipart("edit"))
    readonly = EmailMessage()
    readonly["Subject"] = "readonly"
    readonly.set_content("plain\n")
    send(server, readonly.as_bytes(policy=email.policy.SMTP))
    wrap = EmailMessage()
    wrap["Subject"] = "wrap"
    wrap.set_content("only part\n")
    send(server, wrap.as_bytes(policy=email.policy.SMTP))
    messages = {m["Subject"]: m for m in spooled(server)}

    assert messages["describe"]["X-Tree"] == (
        "multipart/mixed| multipart/alternative|  text/plain 13|  text/html 21| application/octet-stream 9")
    assert messages["describe"]["X-From-Domain"] == "source.test"

    edited = messages["edit"]
    assert edited["X-Twice"] == "refused"
    parts = [p for p in edited.walk()]
    types = [p.get_content_type() for p in parts]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain"]
    def text(part):
        return part.get_content().replace("\r\n", "\n")

    assert text(parts[2]) == "Hello there.\nEdited: café.\n"
    assert parts[2]["Content-Transfer-Encoding"] == "base64"
    assert parts[3]["X-Part"] == "html"
    assert text(parts[4]) == "-- \nSent through Impulse\n"
    assert not any(p.get_filename() == "data.bin" for p in parts)

    assert "read-only" in messages["readonly"]["X-Readonly"]
    assert text(messages["readonly"]) == "plain\n"
    assert messages["wrap"]["X-Container"] == "ok"


def test_text_replace_in_every_text_part(server_factory):
    server = policy_server(server_factory, {"mime": POLICY}).start()
    message = EmailMessage()
    message["Subject"] = "replace"
    message.set_content("code secret-1234 here\n", cte="quoted-printable")
    message.add_alternative("<b>secret-99</b>\n", subtype="html", cte="base64")
    send(server, message.as_bytes(policy=email.policy.SMTP))
    result = spooled(server)[0]
    plain, html = [p for p in result.walk()][1:]
    assert plain.get_content().replace("\r\n", "\n") == "code [redacted] here\n"
    assert html.get_content().replace("\r\n", "\n") == "<b>[redacted]</b>\n"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "base64"


def test_broken_and_hostile_mime_is_accepted(server_factory):
    server = policy_server(server_factory, {"mime": POLICY}).start()
    broken = [
        # A boundary that never appears, an unclosed multipart, a close delimiter first.
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=nothere\r\n\r\nno parts at all\r\n",
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nopen\r\n",
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
        b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n",
        b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    ]
    # 60 levels of nesting and 2,000 parts: past the bounds the rest is one leaf.
    deep = b"".join(b"Content-Type: multipart/mixed; boundary=l%d\r\n\r\n--l%d\r\n" % (i, i) for i in range(60))
    broken.append(b"Subject: x\r\n" + deep + b"Content-Type: text/plain\r\n\r\ndeep\r\n")
    many = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n" + \
        b"".join(b"--m\r\nContent-Type: text/plain\r\n\r\np\r\n" for _ in range(2000)) + b"--m--\r\n"
    broken.append(many)
    for data in broken:
        send(server, data)
    trees = [m["X-Tree"] for m in spooled(server)]
    assert len(trees) == len(broken)
    counts = sorted(int(t) for t in trees)
    assert counts[-1] == 500  # the part bound
    assert all(c >= 1 for c in counts)
