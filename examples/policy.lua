-- Example Momentum policy scriptlet. Impulse loads it unchanged.
require("msys.core")

local mod = {}

function mod:validate_mailfrom(str, accept, vctx)
  -- Refuse a sender domain that is known to be bad.
  if string.find(tostring(str), "@spam%.invalid$") then
    vctx:set_code(550, "5.7.1 sender refused by policy")
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("policy", mod)
