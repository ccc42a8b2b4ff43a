-- make bench-datasource: the recipient looked up at RCPT, in a Datasource "lookups"
-- (msys.db, with or without its result cache) or, for comparison, in an in-memory table.
require("msys.core")
require("msys.db")

-- scripts/datasource_bench.py fills in the two settings.
local use_datasource, nocache = {{use_datasource}}, {{nocache}}
local known = { ["rcpt@discard.test"] = "OK", ["postmaster@discard.test"] = "OK" }
local options = { raise_error = false, nocache = nocache }

local mod = {}
function mod:validate_rcptto(msg, rcpt, accept, vctx)
  local address = string.lower(tostring(msg:rcptto()))
  local action
  if use_datasource then
    local row = msys.db.fetch_row("lookups", "select action from recipients where address = ?", { address }, options)
    action = row and row.action
  else
    action = known[address]
  end
  if action ~= "OK" then vctx:set_code(550, "5.1.1 unknown recipient") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("datasource_bench", mod)
