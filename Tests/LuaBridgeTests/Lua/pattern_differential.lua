-- Compares Impulse's bounded string.find/match/gmatch/gsub with LuaJIT's own on random patterns
-- and subjects. Run in a plain LuaJIT state by BoundedLibraryTests: `original` holds LuaJIT's
-- functions, `string` Impulse's, `call` is pattern_call.lua. Returns the number of cases and the
-- first difference.
local original, call, cases, seed = ...
math.randomseed(seed)

local tokens = {
  "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%p", "%A", "%S", "%z", "%x", "%c", "%u", "%l", "%g", "%G", "%q",
  "[ab]", "[^a]", "[a-c]", "[a-b]", "[^b-x]", "[!-a]", "[%d_]", "[]]", "[^]a]", "[a-]", "[%a-z]", "[", "]", "(", ")", "()",
  "%1", "%2", "%0", "%b()", "%bab", "%b", "%f[%w]", "%f[%W]", "%f[a]", "%f", "*", "+", "-", "?",
  "^", "$", "%", "%%", "%.", "%(", "\0", " ", "_", "1",
}
local letters = { "a", "b", "(", ")", "1", " ", "_", ".", "\0", "x", "%", "]", "^", "$", "A", "\200", "\t", "G", "c", "!", "x" }

local function pick(list) return list[math.random(#list)] end

local function random_pattern()
  local parts = {}
  for i = 1, math.random(0, 7) do parts[i] = pick(tokens) end
  return table.concat(parts)
end

local function random_subject()
  local parts = {}
  for i = 1, math.random(0, 14) do parts[i] = pick(letters) end
  return table.concat(parts)
end

local replacements = {
  "<%0>", "%1", "[%1|%2]", "%", "%x", "%%", "", 7,
  { a = "A", ["()"] = false, ab = 1 },
  function(a, b) if a == "a" then return nil end return tostring(a) .. "/" .. tostring(b) end,
  function() return {} end,
}
local inits = { nil, 1, 2, 0, -1, -3, 5, 100, 1e10, -1e10, 2.5 }

local function each_case(fn, s, p, random)
  local which = random(4)
  if which == 1 then
    return call(fn, "find", s, p, inits[random(#inits)], random(5) == 1 or nil)
  elseif which == 2 then
    return call(fn, "match", s, p, inits[random(#inits)])
  elseif which == 3 then
    return call(fn, "gmatch", s, p)
  end
  local replacement = replacements[random(#replacements)]
  return call(fn, "gsub", s, p, nil, nil, replacement, random(4) == 1 and random(3) - 1 or nil)
end

local impulse = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }
for i = 1, cases do
  local p, s = random_pattern(), random_subject()
  -- The same random choices for both sides: the generator is reseeded to one state for each.
  local state = math.random(1, 2^30)
  math.randomseed(state)
  local expected = each_case(original, s, p, math.random)
  math.randomseed(state)
  local got = each_case(impulse, s, p, math.random)
  if expected ~= got then
    return i, string.format("pattern %q subject %q: LuaJIT %s, Impulse %s", p, s, expected, got)
  end
  math.randomseed(state + i)
end
return cases, nil
