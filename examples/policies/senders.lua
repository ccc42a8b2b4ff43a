-- Greeting and sender checks (Momentum policy; Impulse runs it unchanged).
require("msys.core")
require("msys.pcre")

local core = msys.core
local senders = {}

-- A client outside our networks that greets with our own name, or with a bare IP that is not
-- in brackets, is not a mail server we want to talk to.
function senders:validate_ehlo(str, accept, vctx)
  local name = tostring(str)
  if vctx:get(core.VCTX_CONN, "trusted") then return core.VALIDATE_CONT end
  if name:lower() == "impulse.localhost" or msys.pcre.match(name, [[^\d+\.\d+\.\d+\.\d+$]]) then
    vctx:set_code(550, "5.7.1 bad greeting " .. name)
  end
  return core.VALIDATE_CONT
end

-- str is the whole command ("MAIL FROM:<user@domain> ..."); the message context holds its parts.
function senders:validate_mailfrom(str, accept, vctx)
  local domain = vctx:get(core.VCTX_MESS, "mailfrom_domain")
  if domain == "spam.invalid" then
    vctx:set_code(550, "5.7.1 sender refused by policy")
    return core.VALIDATE_DONE
  end
  -- Remember bulk senders for the binding choice in routing.lua.
  local localpart = vctx:get(core.VCTX_MESS, "mailfrom_localpart") or ""
  if msys.pcre.match(localpart, [[^(newsletter|news|marketing)\b]]) then
    vctx:set(core.VCTX_MESS, "mail_class", "bulk")
  end
  return core.VALIDATE_CONT
end

-- At most 50 recipients per message from clients outside our networks.
function senders:validate_rcptto(msg, str, accept, vctx)
  local count = tonumber(vctx:get(core.VCTX_MESS, "message_rcpt_count")) or 0
  if count > 50 and not vctx:get(core.VCTX_CONN, "trusted") then
    vctx:set_code(452, "4.5.3 too many recipients")
  end
  return core.VALIDATE_CONT
end

msys.registerModule("senders", senders)
