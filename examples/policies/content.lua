-- Content checks in the message phases (Momentum policy; Impulse runs it unchanged).
require("msys.core")
require("msys.extended.message")

local core = msys.core
local content = {}

function content:validate_data(msg, accept, vctx)
  local subject = msg:header("Subject")[1] or ""
  if msys.pcre.match(subject, [[(?i)\b(viagra|lottery winner)\b]]) then
    vctx:set_code(550, "5.7.1 message content refused")
    return core.VALIDATE_DONE
  end
  if #msg:header("Date") == 0 then
    vctx:set(core.VCTX_MESS, "rfc2822_date_missing", "true")
    msg:header("Date", os.date("!%a, %d %b %Y %H:%M:%S +0000"))
  end
  return core.VALIDATE_CONT
end

-- Per recipient: a mailbox that no longer exists.
function content:validate_data_spool_each_rcpt(msg, accept, vctx)
  if msg:rcptto() == "former-employee@example.test" then
    vctx:set_code(550, "5.1.1 this mailbox was closed")
  end
  return core.VALIDATE_CONT
end

-- The last look: note what the policy saw, for the mail's readers.
function content:core_final_validation(msg, accept, vctx)
  local trust = vctx:get(core.VCTX_CONN, "trusted") or "external"
  msg:header("X-Impulse-Policy", "client=" .. trust .. "; class=" .. (vctx:get(core.VCTX_MESS, "mail_class") or "normal"))
end

msys.registerModule("content", content)
