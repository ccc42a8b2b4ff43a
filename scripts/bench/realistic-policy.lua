-- The benchmark's "realistic policy": what a receiving MTA's inbound policy does for every
-- connection and message. At connect, the client is looked up in a DNSBL (bl.itest, served by
-- dnsmasq on loopback: NXDOMAIN with a 300-second negative TTL for clean clients, 127.0.0.2
-- listed) and its connections are counted; EHLO and the sender's domain are matched against
-- regular expressions; each recipient is looked up in a table; at DATA two headers are read and
-- one is added; the binding is chosen. Every check passes for the benchmark's client, so what is
-- measured is the cost of doing them.
local core = msys.core
local policy = {}

local recipients = { ["rcpt@discard.test"] = true, ["postmaster@discard.test"] = true }

function policy:init()
  msys.gauge_cache.define("connections", 100000, 60)
  return true
end

function policy:validate_connect(accept, vctx)
  local ip = accept.remote_addr.ip
  local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    local listed = msys.dnsLookup(d .. "." .. c .. "." .. b .. "." .. a .. ".bl.itest", "A")
    if listed then
      vctx:set_code(554, "5.7.1 Service unavailable; client [" .. ip .. "] blocked using bl.itest")
      return core.VALIDATE_DONE
    end
  end
  if msys.gauge_cache.inc("connections", ip) > 100000 then
    vctx:set_code(421, "4.7.0 too many connections from " .. ip)
    return core.VALIDATE_DONE
  end
  return core.VALIDATE_CONT
end

function policy:validate_ehlo(str, accept, vctx)
  if msys.pcre.match(str, [[^(localhost|\[?\d+\.\d+\.\d+\.\d+\]?)$]]) then
    vctx:set_code(550, "5.7.1 EHLO " .. str .. " is not a name")
    return core.VALIDATE_DONE
  end
  return core.VALIDATE_CONT
end

function policy:validate_mailfrom(str, accept, vctx)
  local domain = vctx:get(core.VCTX_MESS, "mailfrom_domain") or ""
  if msys.pcre.match(domain, [[(^|\.)(spam|junk|bulk-?mail)\.(test|example)$]]) then
    vctx:set_code(550, "5.7.1 sender domain refused")
    return core.VALIDATE_DONE
  end
  return core.VALIDATE_CONT
end

function policy:validate_rcptto(msg, str, accept, vctx)
  local address = string.lower(vctx:get(core.VCTX_MESS, "rcptto_address") or "")
  if not recipients[address] then
    vctx:set_code(550, "5.1.1 <" .. address .. ">: recipient unknown")
    return core.VALIDATE_DONE
  end
  return core.VALIDATE_CONT
end

function policy:validate_data_spool(msg, accept, vctx)
  local subject = msg:header("Subject")[1] or ""
  local from = msg:header("From")[1] or ""
  if subject:find("VIAGRA", 1, true) or from:find("@spam.test", 1, true) then
    vctx:set_code(550, "5.7.1 content refused")
    return core.VALIDATE_DONE
  end
  msg:header("X-Policy-Checked", "dnsbl=pass; sender=" .. (vctx:get(core.VCTX_MESS, "mailfrom_domain") or ""))
  return core.VALIDATE_CONT
end

function policy:validate_set_binding(msg, accept, vctx)
  msg:binding("default")
  return core.VALIDATE_CONT
end

msys.registerModule("realistic", policy)
