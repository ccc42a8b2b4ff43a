-- Example Momentum policy scriptlet. Impulse runs it unchanged.
require("msys.core")

local mod = {}

-- str is the whole command ("MAIL FROM:<user@domain> ..."); the message context holds its parts.
function mod:validate_mailfrom(str, accept, vctx)
  if vctx:get(msys.core.VCTX_MESS, "mailfrom_domain") == "spam.invalid" then
    vctx:set_code(550, "5.7.1 sender refused by policy")
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("policy", mod)
