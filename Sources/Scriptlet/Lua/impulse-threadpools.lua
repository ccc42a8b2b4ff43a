-- `msys.runInPool` and `msys.threadpool` (docs/lua/library.md): functions run in Lua states owned by
-- thread pools, never in the session's state. A function and its arguments are copied into the
-- pool's state as Lua source that rebuilds them (functions as LuaJIT bytecode with their
-- upvalues); the results come back the same way. Runs before the state is sealed: it keeps the
-- debug upvalue functions and the bytecode loader for itself.
local I = __impulse
local core = msys.core
local format, concat, dump = string.format, table.concat, string.dump
local getupvalue, setupvalue = debug.getupvalue, debug.setupvalue
local load_binary = __impulse_load_binary
local traceback = debug.traceback

-- Tables and functions every state has, by path: they are named, not copied.
local known, known_by_path
local function build_known()
  known, known_by_path = {}, {}
  local function walk(value, path, depth)
    if known[value] or depth > 3 then return end
    known[value], known_by_path[path] = path, value
    if type(value) == "table" then
      for key, inner in pairs(value) do
        if type(key) == "string" and (type(inner) == "table" or type(inner) == "function") then
          walk(inner, path .. "." .. key, depth + 1)
        end
      end
    end
  end
  for _, name in ipairs({ "string", "table", "math", "os", "io", "coroutine", "bit", "debug", "msys", "json", "thread" }) do
    if _G[name] then walk(_G[name], name, 1) end
  end
  for _, name in ipairs({ "print", "pairs", "ipairs", "type", "tostring", "tonumber", "select", "error", "assert",
                          "pcall", "xpcall", "unpack", "next", "rawget", "rawset", "rawequal", "setmetatable",
                          "getmetatable", "require" }) do
    if _G[name] then known[_G[name]], known_by_path["_G." .. name] = "_G." .. name, _G[name] end
  end
  for _, module in ipairs(I.modules) do
    known[module.tbl], known_by_path["module:" .. module.name] = "module:" .. module.name, module.tbl
  end
end

-- Lua source that rebuilds `value` in another state (run with R, K, L, U as its arguments).
local function marshal(value)
  if not known then build_known() end
  local lines, ids, count = {}, {}, 0
  local emit
  local function slot()
    count = count + 1
    return "R[" .. count .. "]"
  end
  function emit(v)
    local kind = type(v)
    if kind == "nil" or kind == "boolean" then return tostring(v) end
    if kind == "number" then
      if v ~= v then return "(0/0)" end
      if v == math.huge then return "(1/0)" end
      if v == -math.huge then return "(-1/0)" end
      return format("%.17g", v)
    end
    if kind == "string" then return format("%q", v) end
    if ids[v] then return ids[v] end
    if known[v] then return "K(" .. format("%q", known[v]) .. ")" end
    if kind == "table" then
      if v.__session then error("a session object (vctx, msg, accept) cannot go to a thread pool; pass its values", 0) end
      local name = slot()
      ids[v] = name
      lines[#lines + 1] = name .. " = {}"
      for key, inner in pairs(v) do
        local k, x = emit(key), emit(inner)
        lines[#lines + 1] = name .. "[" .. k .. "] = " .. x
      end
      local mt = getmetatable(v)
      if mt == I.SOCKADDR then lines[#lines + 1] = "setmetatable(" .. name .. ", K(\"__sockaddr\"))" end
      return name
    end
    if kind == "function" then
      local ok, code = pcall(dump, v)
      if not ok then error("a C function cannot go to a thread pool", 0) end
      local name = slot()
      ids[v] = name
      lines[#lines + 1] = name .. " = L(" .. format("%q", code) .. ")"
      local index = 1
      while true do
        local upname, upvalue = getupvalue(v, index)
        if not upname then break end
        local value = emit(upvalue)  -- first: emitting appends the lines that build the value
        lines[#lines + 1] = "U(" .. name .. ", " .. index .. ", " .. value .. ")"
        index = index + 1
      end
      return name
    end
    if kind == "userdata" and msys.type(v) == "ec_string" then return format("%q", tostring(v)) end
    error("a " .. kind .. " value cannot go to a thread pool", 0)
  end
  local root = emit(value)
  return "local R, K, L, U = {}, ...\n" .. concat(lines, "\n") .. "\nreturn " .. root
end

local function resolve(path)
  if not known then build_known() end
  if path == "__sockaddr" then return I.SOCKADDR end
  local value = known_by_path[path]
  if value == nil then error("thread pool: '" .. path .. "' does not exist in the pool's state", 0) end
  return value
end
local function load_function(code)
  local f, message = load_binary(code, "=impulse-marshal")
  if not f then error("thread pool: " .. tostring(message), 0) end
  return f
end

local function unmarshal(text)
  local builder, message = load_binary(text, "=impulse-marshal")
  if not builder then error("thread pool: " .. tostring(message), 0) end
  return builder(resolve, load_function, setupvalue)
end
I.marshal, I.unmarshal = marshal, unmarshal

local function pack(...) return { n = select("#", ...), ... } end

-- In a pool's state: runs a marshalled { fn, args } job; returns marshalled { ok, results... }.
-- With a completion function (run here, in the pool), it gets the same results afterwards.
I.in_pool = false
function __impulse_pool_run(payload)
  I.in_pool = true
  local ok, job = pcall(unmarshal, payload)
  if not ok then return marshal({ n = 2, false, tostring(job) }) end
  local results = pack(xpcall(job.fn, traceback, unpack(job.args, 1, job.args.n)))
  if job.completion then
    local done = pack(xpcall(job.completion, traceback, unpack(results, 1, results.n)))
    if not done[1] then print("msys.runInPool completion error: " .. tostring(done[2])) end
  end
  local encoded
  ok, encoded = pcall(marshal, results)
  if not ok then return marshal({ n = 2, false, "results cannot come back from the pool: " .. tostring(encoded) }) end
  return encoded
end

-- In the submitting event loop's state: a completion function with ECTP_COMPLETE_CALLBACK_SCHED.
function __impulse_pool_complete(completion_payload, results_payload)
  local ok, message = pcall(function()
    local completion = unmarshal(completion_payload)
    local results = unmarshal(results_payload)
    completion(unpack(results, 1, results.n))
  end)
  if not ok then print("msys.runInPool completion error: " .. tostring(message)) end
end

-- msys.runInPool(pool, fn[, true | completion[, ECTP_COMPLETE_CALLBACK_SCHED]], ...)
--   default: the callout waits; returns true, results… or false, error (like pcall)
--   true: fire and forget (returns true once the job is queued)
--   completion: the caller goes on; completion(ok, results…) runs in the pool, or with
--   ECTP_COMPLETE_CALLBACK_SCHED in this event loop's state
function msys.runInPool(pool, fn, mode, flag)
  if type(fn) ~= "function" then error("msys.runInPool: the second argument must be a function", 2) end
  pool = tostring(pool)
  local job = { fn = fn, args = pack() }
  local detached = mode == true or type(mode) == "function"
  local sched = type(mode) == "function" and flag == core.ECTP_COMPLETE_CALLBACK_SCHED
  if type(mode) == "function" and not sched then job.completion = mode end
  local ok, payload = pcall(marshal, job)
  if not ok then error("msys.runInPool: " .. tostring(payload), 2) end
  if detached then
    local completion
    if sched then
      ok, completion = pcall(marshal, mode)
      if not ok then error("msys.runInPool: " .. tostring(completion), 2) end
    end
    local queued, message = __impulse_pool_submit(pool, payload, completion)
    if not queued then return false, message end
    return true
  end
  if I.in_pool or not coroutine.running() then
    error("msys.runInPool: cannot wait here (only in a callout, a timer or a delivery hook); pass true or a completion function", 2)
  end
  local answer = pack(__impulse_suspend("pool", pool, payload))
  if answer[1] ~= "ok" then return false, answer[2] end
  local results = unmarshal(answer[2])
  return unpack(results, 1, results.n)
end

-- msys.threadpool: the configured pools (ThreadPool stanzas and Momentum's standard ones).
msys.threadpool = {
  count = function() return __impulse_pool_info("count") end,
  find = function(pool) return __impulse_pool_info("find", tostring(pool)) end,
  stat = function(pool)
    local name, id, concurrency, queued, running, completed = __impulse_pool_info("stat", tostring(pool))
    if not name then return nil end
    return { name = name, id = id, concurrency = concurrency, queued = queued, running = running, completed = completed }
  end,
}
package.preload["msys.threadpool"] = function() return msys.threadpool end
I.supported["msys.threadpool"] = true

-- In a pool's state nothing can suspend: the waiting functions block their pool thread instead
-- (as in Momentum, where they block outside the scheduler).
local suspending_sleep, suspending_readfile = msys.sleep, msys.readfile
function msys.sleep(seconds)
  if I.in_pool then return __impulse_block("sleep", I.seconds_of(seconds, "msys.sleep")) end
  return suspending_sleep(seconds)
end
function msys.readfile(path)
  if I.in_pool then
    local answer = pack(__impulse_block("readfile", (string.gsub(tostring(path), "^file://", ""))))
    if answer[1] ~= "ok" then return nil, answer[2] end
    return answer[2]
  end
  return suspending_readfile(path)
end
