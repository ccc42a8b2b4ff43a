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
-- Connection limits and trust, in the connect phases (Momentum policy; Impulse runs it unchanged).
-- Trusted networks come from a CIDR table defined once in init; connections per client address
-- are counted in a gauge cache shared by every event loop.
require("msys.core")
require("msys.cidr")
require("msys.gauge_cache")

local core = msys.core
local limits = {}
local MAX_SESSIONS_PER_IP = 20

function limits:init()
  msys.cidr.define("trusted_networks", {
    type = "inline",
    entries = { ["127.0.0.0/8"] = "loopback", ["::1/128"] = "loopback", ["10.0.0.0/8"] = "internal" },
  })
  msys.gauge_cache.define("sessions_per_ip", 100000, 3600)
  return true
end

function limits:validate_connect(accept, vctx)
  local ip = accept.remote_addr.ip
  local trust = msys.cidr.query("trusted_networks", ip)
  if trust then vctx:set(core.VCTX_CONN, "trusted", trust) end
  self.ip = ip  -- self lasts for the whole session: validate_dealloc gives the slot back
  if msys.gauge_cache.inc("sessions_per_ip", ip) > MAX_SESSIONS_PER_IP and not trust then
    vctx:set_code(421, "4.7.0 too many connections from " .. ip)
  end
  if not trust then
    -- Nobody outside our networks needs ESMTP pipelining of huge batches: a small tarpit.
    vctx:tarpit(0.2)
  end
  return core.VALIDATE_CONT
end

function limits:validate_dealloc()
  if self.ip then msys.gauge_cache.dec("sessions_per_ip", self.ip) end
end

msys.registerModule("limits", limits)
-- Routing and binding choice (Momentum policy; Impulse runs it unchanged).
require("msys.core")
require("msys.extended.message_routing")

local core = msys.core
