-- Lua-level tests of msg:header, msg:body, msg:raw and msg:text working on the message taken
-- apart once (docs/lua/objects.md): reads are look-ups, changes are kept in the parts, and the
-- text made from them is what a script that reads it all sees.

local mod = {}

function mod:validate_data(msg, accept, vctx)
  local original = "Subject: Lua unit test\r\nFrom: <a@example.test>\r\n\r\nbody\r\n"
  assert(msg:raw() == original, msg:raw())
  assert(msg:get_message_size() == #original)
  -- Names are case-insensitive (a field keeps the name as written); values come in the
  -- message's order.
  assert(msg:header("subject")[1] == "Lua unit test")
  msg:header("X-List", "one", "append")
  msg:header("x-list", "two", "append")
  msg:header("X-List", "zero", "prepend")
  local list = msg:header("X-LIST")
  assert(#list == 3 and list[1] == "zero" and list[2] == "one" and list[3] == "two", table.concat(list, ","))
  -- Prepending puts the field first in the header; appending puts it last.
  assert(string.sub(msg:raw(), 1, 14) == "X-List: zero\r\n", (string.gsub(msg:raw(), "\r\n", "|")))
  assert(msg:raw() == "X-List: zero\r\nSubject: Lua unit test\r\nFrom: <a@example.test>\r\n"
    .. "X-List: one\r\nx-list: two\r\n\r\nbody\r\n", (string.gsub(msg:raw(), "\r\n", "|")))
  assert(msg:get_message_size() == #msg:raw())
  -- Replacing takes every field of the name away and adds the new one at the end.
  msg:header("X-List", "only")
  list = msg:header("X-List")
  assert(#list == 1 and list[1] == "only")
  assert(msg:raw() == "Subject: Lua unit test\r\nFrom: <a@example.test>\r\nX-List: only\r\n\r\nbody\r\n", msg:raw())
  -- An empty value deletes.
  msg:header("X-List", "")
  assert(#msg:header("X-List") == 0)
  -- The body is the body; setting it keeps the header.
  assert(msg:body() == "body\r\n")
  msg:body("new body\r\n")
  assert(msg:raw() == "Subject: Lua unit test\r\nFrom: <a@example.test>\r\n\r\nnew body\r\n", msg:raw())
  assert(msg:text() == "new body\r\n")
  -- A header added after the body changed, and a Content-Transfer-Encoding msg:text honours.
  msg:header("Content-Transfer-Encoding", "quoted-printable")
  msg:body("caf=C3=A9\r\n")
  assert(msg:text() == "café\r\n", msg:text())
  -- raw_replace replaces the whole text; headers read after it see the new text.
  assert(msg:raw_replace("Subject: [^\\r]*", "Subject: replaced"))
  assert(msg:header("Subject")[1] == "replaced", tostring(msg:header("Subject")[1]))
  msg:header("X-After", "yes", "append")
  assert(string.find(msg:raw(), "Subject: replaced\r\n", 1, true) and string.find(msg:raw(), "X-After: yes\r\n\r\n", 1, true))
  return msys.core.VALIDATE_CONT
end

msys.registerModule("headers_test", mod)
