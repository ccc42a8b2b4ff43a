-- Lua-level tests of the sealed state every script runs in (docs/lua/README.md, Sandbox).
-- Loaded as a policy script; the module-level asserts run at load, the callouts in a session.

-- Impulse's internals are not globals, and no function environment hands them out.
for name in pairs(_G) do
  assert(not string.find(name, "^__impulse"), "internal global visible: " .. name)
end
assert(getfenv(msys.registerModule) ~= nil)
for _, value in pairs(getfenv(msys.registerModule)) do
  assert(type(value) ~= "table" or value ~= _G.__impulse, "an internal table through getfenv")
end
assert(not pcall(setfenv, msys.registerModule, {}), "setfenv on Impulse's own function")

-- Nothing loads bytecode or native code.
assert(jit == nil, "jit is reachable")
assert(package.loadlib == nil, "package.loadlib is reachable")
local compiled = string.dump(function() return 1 end)
assert(loadstring(compiled) == nil, "bytecode loaded through loadstring")
assert(load(compiled) == nil, "bytecode loaded through load")
package.cpath = "./?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so"
local found, why = pcall(require, "impulse_no_such_native_module")
assert(not found and not string.find(why, "%.so"), "a C searcher looked: " .. tostring(why))
assert(debug.setupvalue == nil and debug.sethook == nil and debug.getregistry == nil)

-- The watchdog cannot be caught: pcall re-raises it (checked by the Swift tests); ordinary errors
-- stay catchable.
local ok, message = pcall(error, "plain")
assert(not ok and string.find(message, "plain"), "an ordinary error is catchable")

local mod = {}
function mod:validate_connect(accept, vctx)
  assert(type(vctx) == "userdata" or type(vctx) == "table")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("sandbox_test", mod)
