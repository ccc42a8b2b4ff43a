-- The benchmark's "full policy": every validation callout reads the vctx, sets a context key and
-- returns VALIDATE_CONT, so the measured cost is the engine's, not the policy's.
local core = msys.core
local bench = {}

function bench:validate_connect(accept, vctx)
  vctx:set(core.VCTX_CONN, "bench_connect", tostring(vctx:get(core.VCTX_CONN, "can_relay")))
  return core.VALIDATE_CONT
end

function bench:validate_ehlo(str, accept, vctx)
  vctx:set(core.VCTX_CONN, "bench_ehlo", tostring(str))
  return core.VALIDATE_CONT
end

function bench:validate_mailfrom(str, accept, vctx)
  vctx:set(core.VCTX_MESS, "bench_from", vctx:get(core.VCTX_MESS, "mailfrom_domain"))
  return core.VALIDATE_CONT
end

function bench:validate_rcptto(msg, str, accept, vctx)
  vctx:set(core.VCTX_MESS, "bench_rcpt", vctx:get(core.VCTX_MESS, "rcptto_domain"))
  return core.VALIDATE_CONT
end

function bench:validate_rcptto_list(list, vctx)
  vctx:set(core.VCTX_MESS, "bench_list", vctx:get(core.VCTX_MESS, "message_rcpt_count"))
  return core.VALIDATE_CONT
end

function bench:validate_rcptto_list_final(node, vctx)
  vctx:set(core.VCTX_MESS, "bench_final", vctx:get(core.VCTX_MESS, "message_rcpt_count"))
  return core.VALIDATE_CONT
end

function bench:validate_data(msg, accept, vctx)
  vctx:set(core.VCTX_MESS, "bench_data", vctx:get(core.VCTX_MESS, "bench_from"))
  return core.VALIDATE_CONT
end

function bench:validate_data_spool(msg, accept, vctx)
  vctx:set(core.VCTX_MESS, "bench_spool", vctx:get(core.VCTX_CONN, "ehlo_domain"))
  return core.VALIDATE_CONT
end

function bench:validate_data_spool_each_rcpt(msg, accept, vctx)
  vctx:set(core.VCTX_MESS, "bench_each", vctx:get(core.VCTX_MESS, "rcptto_address"))
  return core.VALIDATE_CONT
end

function bench:validate_set_binding(msg)
  return core.VALIDATE_CONT
end

function bench:validate_dealloc()
  self.done = true
end

msys.registerModule("bench", bench)
