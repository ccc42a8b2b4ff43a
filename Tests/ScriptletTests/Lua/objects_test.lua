-- Lua-level tests of the msys objects and registration (docs/lua/README.md).

-- registerModule checks its arguments where the script calls it.
local ok, message = pcall(msys.registerModule, 1, {})
assert(not ok and string.find(message, "module name must be a string"), message)
ok, message = pcall(msys.registerModule, "x", "not a table")
assert(not ok and string.find(message, "second argument must be a table"), message)
assert(msys.core.VALIDATE_CONT == 0 and msys.core.VALIDATE_DONE == 1 and msys.core.VALIDATE_AGAIN == 2)
assert(msys.core.VCTX_CONN ~= msys.core.VCTX_MESS)

local mod = {}

function mod:validate_connect(accept, vctx)
  -- Context values round-trip per scope, and the scopes are apart.
  vctx:set(msys.core.VCTX_CONN, "lua_test", "connection value")
  vctx:set(msys.core.VCTX_MESS, "lua_test", "message value")
  assert(vctx:get(msys.core.VCTX_CONN, "lua_test") == "connection value")
  assert(vctx:get(msys.core.VCTX_MESS, "lua_test") == "message value")
  assert(vctx:get(msys.core.VCTX_CONN, "never_set") == nil)
  -- Codes are checked where the script sets them.
  assert(not pcall(vctx.set_code, vctx, 0 / 0, "x"), "NaN as a reply code")
  assert(not pcall(vctx.set_code, vctx, 99, "x"), "a code below 200")
  return msys.core.VALIDATE_CONT
end

function mod:validate_mailfrom(msg, accept, vctx)
  assert(vctx:get(msys.core.VCTX_CONN, "lua_test") == "connection value", "the connection scope lasts")
  assert(msys.expandMacro("%{vctx_conn:lua_test}") == "connection value")
  return msys.core.VALIDATE_CONT
end

-- msys.bounce: the bouncelog's classification codes.
assert(msys.bounce.classify_smtp_response("550 5.1.1 <a@b>: user unknown", "b") == 10)
assert(msys.bounce.classify_smtp_response("452 4.2.2 mailbox full") == 22)
assert(require("msys.bounce") == msys.bounce)

function mod:validate_data(msg, accept, vctx)
  assert(msys.bounce.classify(msg) == 1, "no reply set yet: undetermined")
  msg:code(552, "5.2.2 over quota")
  assert(msys.bounce.classify(msg) == 22)
  assert(not pcall(msys.bounce.classify, "not a message"))
  msg:code(250, "ok")
  assert(msg:header("Subject")[1] == "Lua unit test", tostring(msg:header("Subject")[1]))
  assert(#msg:header("X-Absent") == 0)
  msg:header("X-Added", "value")
  assert(msg:header("X-Added")[1] == "value")
  -- A line end in a value never starts a header line of its own: it is folded.
  msg:header("X-Injected", "a\r\nBcc: victim@example.test")
  assert(#msg:header("Bcc") == 0, "a header line injected")
  assert(not string.find(msg:header("X-Injected")[1], "[\r\n][^ \t]"), "an unfolded line end")
  assert(not pcall(msg.header, msg, "Bad Name", "x"), "a field name with a space")
  return msys.core.VALIDATE_CONT
end

msys.registerModule("objects_test", mod)
