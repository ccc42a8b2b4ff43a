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
