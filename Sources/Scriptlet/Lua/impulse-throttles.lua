-- msys.shared_throttle (docs/lua/shared_throttle.md): named rate limits that every policy state
-- shares and, with `cluster { throttle_store }`, every node. Impulse's form of the Sieve functions
-- ec_shared_throttle_create / _inc / _check / _tarpit in Momentum's manual, plus `take`. The
-- names and rates live in Swift (PolicyState+Library.swift); the clocks behind the `throttle`
-- wait (PolicyEffectExecutor), so a clock kept in Redis never stops an event loop.
local I = __impulse
local function pack(...) return { n = select("#", ...), ... } end

local function step(caller, operation, name)
  if type(name) ~= "string" then error("msys.shared_throttle." .. caller .. ": the name must be a string", 3) end
  local count, seconds = __impulse_named_throttle("rate", name)
  if not count then
    error("msys.shared_throttle." .. caller .. ": no throttle named '" .. name .. "' (create it first)", 3)
  end
  local answer = pack(I.wait("throttle", operation, name, count, seconds))
  if answer[1] ~= "ok" then return nil, answer[2] end
  return answer[2]
end

msys.shared_throttle = {
  -- create(name, "N/S"): N events in S seconds (N at once, then one every S/N seconds).
  create = function(name, rate)
    if type(name) ~= "string" then error("msys.shared_throttle.create: the name must be a string", 2) end
    local ok, err = pcall(__impulse_named_throttle, "create", name, tostring(rate))
    if not ok then error(err, 2) end
    return true
  end,
  -- inc(name): counts one event, whatever the rate.
  inc = function(name)
    local wait, err = step("inc", "count", name)
    if wait == nil then return nil, err end
    return true
  end,
  -- check(name): true when the throttle is over its quota (the next event would have to wait).
  check = function(name)
    local wait, err = step("check", "peek", name)
    if wait == nil then return nil, err end
    return wait > 0
  end,
  -- take(name): true when an event may go now (and counts it); else false and the seconds to wait.
  take = function(name)
    local wait, err = step("take", "take", name)
    if wait == nil then return nil, err end
    if wait > 0 then return false, wait end
    return true
  end,
  -- tarpit(name): counts one event, then waits until the throttle is within its quota again
  -- (at most msys.sleep's longest wait); the seconds it waited.
  tarpit = function(name)
    local wait, err = step("tarpit", "count", name)
    if wait == nil then return nil, err end
    if wait > 0 then msys.sleep(wait) end
    return wait
  end,
}
package.preload["msys.shared_throttle"] = function() return msys.shared_throttle end
I.supported["msys.shared_throttle"] = true
