-- `msys.timer` (docs/lua/library.md): after / at / every, with `:stop()`, `:start()`, `:name()`; a timer the
-- script no longer references is cancelled when collected (keep a global reference, as in
-- Momentum). The callback runs in the state that made the timer, on that state's thread: the
-- scheduler's for timers made in `init` (the usual place), an event loop's for timers made in
-- a callout. The Swift half is PolicyState+Timers.swift. Runs before the state is sealed.
local I = __impulse
local setfenv_of, getfenv_of = debug.setfenv, debug.getfenv
local traceback = debug.traceback
local callbacks = {}   -- id -> { fn =, name =, kind =, delta = }
local next_id = 0

local TIMER = {}
local methods = {}
TIMER.__index = function(self, key) return methods[key] end
TIMER.__gc = function(self)
  local env = getfenv_of(self)
  local id = env and env.id
  if id and callbacks[id] then
    callbacks[id] = nil
    __impulse_timer("cancel", id)
  end
end
TIMER.__tostring = function(self) return "timer " .. tostring(getfenv_of(self).name) end
__impulse_set_timer_metatable(TIMER)

local function id_of(timer)
  local env = type(timer) == "userdata" and getfenv_of(timer)
  if not env or not env.id then error("not a timer", 3) end
  return env.id
end
function methods.stop(timer)
  __impulse_timer("cancel", id_of(timer))
  return true
end
function methods.start(timer)
  local id = id_of(timer)
  local entry = callbacks[id]
  if not entry then error("timer: already collected", 2) end
  __impulse_timer("start", id, entry.delta, entry.kind == "every")
  return true
end
function methods.name(timer) return getfenv_of(timer).name end

local function make(kind, delta, fn, name)
  delta = tonumber(delta)
  if not delta or delta ~= delta or delta < 0 or delta > 31536000 then
    error("msys.timer." .. kind .. ": expected a number of seconds from 0 to 31536000", 3)
  end
  if kind == "every" and delta < 0.001 then error("msys.timer.every: the interval must be at least 0.001 s", 3) end
  if type(fn) ~= "function" then error("msys.timer." .. kind .. ": expected a function", 3) end
  next_id = next_id + 1
  local id = next_id
  local timer = __impulse_new_timer()
  setfenv_of(timer, { id = id, name = name ~= nil and tostring(name) or ("timer" .. id) })
  callbacks[id] = { fn = fn, kind = kind, delta = delta, timer = setmetatable({ timer }, { __mode = "v" }) }
  __impulse_timer("start", id, delta, kind == "every")
  return timer
end

msys.timer = {
  after = function(delta, fn, name) return make("after", delta, fn, name) end,
  at = function(when, fn, name) return make("at", math.max(0, (tonumber(when) or 0) - os.time()), fn, name) end,
  every = function(interval, fn, name) return make("every", interval, fn, name) end,
}
package.preload["msys.timer"] = function() return msys.timer end
I.supported["msys.timer"] = true

-- Called by Impulse when timer `id` fires; false when the timer is gone (collected).
function __impulse_timer_fire(id)
  local entry = callbacks[id]
  if not entry then return false end
  local timer = entry.timer[1]
  if entry.kind ~= "every" and not timer then callbacks[id] = nil end
  local ok, message = xpcall(entry.fn, traceback, timer)
  if not ok then print("msys.timer " .. tostring(timer and getfenv_of(timer).name or id) .. " error: " .. tostring(message)) end
  return true
end
