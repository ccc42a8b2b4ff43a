-- Routing and binding choice (Momentum policy; Impulse runs it unchanged).
require("msys.core")
require("msys.extended.message_routing")

local core = msys.core
local routing = {}

-- Mail for any subdomain of example.test waits in example.test's queue (the hook from Momentum's msys.registerModule page).
function routing:core_config_get_message_routing_domain(scope, msg, buff)
  local domain = tostring(buff)
  if domain:match("%.example%.test$") then
    buff:set("example.test")
  end
  return #buff
end

-- Bulk mail leaves through the bulk binding group, everything else through "transactional";
-- alerts jump the queue.
function routing:validate_set_binding(msg)
  if msg:context_get(core.VCTX_MESS, "mail_class") == "bulk" then
    msg:binding_group("bulk")
  else
    msg:binding("transactional")
  end
  if msg:mailfrom():match("^alerts@") then msg.priority = 1 end
  return core.VALIDATE_CONT
end

msys.registerModule("routing", routing)
