-- What msg:header and msg:body cost per call, measured inside the policy (os.clock, CPU time of
-- the process) on each message it is given: load it as the only script, send a few messages
-- (e.g. smtp-source -m 3 -l 32768 -s 1 127.0.0.1:PORT) and read the server's log.
local core = msys.core
local cost = {}

local function per_call(n, f)
  local started = os.clock()
  for i = 1, n do f(i) end
  return (os.clock() - started) / n * 1e6
end

function cost:validate_data_spool(msg, accept, vctx)
  local first = per_call(1, function() msg:header("Subject") end)  -- includes taking the message apart
  local read = per_call(20000, function() msg:header("Subject") end)
  local absent = per_call(20000, function() msg:header("X-Absent") end)
  local body = per_call(20000, function() msg:body() end)
  local append = per_call(2000, function(i) msg:header("X-Added-" .. (i % 10), "value " .. i, "append") end)
  local replace = per_call(200, function(i) msg:header("X-Replaced", "value " .. i) end)
  local size = per_call(1, function() msg:get_message_size() end)  -- makes the text again, once
  print(string.format(
    "header cost (message of %d octets, %d fields after the test): first read %.1f µs (parses), read %.2f µs, " ..
    "absent %.2f µs, body %.2f µs, append %.2f µs, replace %.1f µs, text made again %.1f µs",
    msg:get_message_size(), #msg:header("X-Added-1") * 10 + 20, first, read, absent, body, append, replace, size))
  return core.VALIDATE_CONT
end

msys.registerModule("header_cost", cost)
