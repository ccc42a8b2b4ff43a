-- One call of a pattern function, described as a string to compare: the results with their
-- types, or the error message without the position in front. Shared by the differential test
-- (pattern_differential.lua) and the FuzzLuaPatterns target.
-- Returns call(functions, which, subject, pattern, init, plain, replacement, limit), where
-- `functions` has find, match, gmatch and gsub and `which` names one of them.
local function describe(ok, ...)
  local out = { tostring(ok) }
  for i = 1, select("#", ...) do
    local value = select(i, ...)
    if not ok and type(value) == "string" then value = value:gsub("^[^:]*:%d+: ", "") end
    out[#out + 1] = type(value) .. ":" .. tostring(value)
  end
  return table.concat(out, "|")
end

local function gmatch_all(gmatch, s, p)
  local results = {}
  for a, b in gmatch(s, p) do
    results[#results + 1] = tostring(a) .. "," .. tostring(b)
    if #results > 64 then break end
  end
  return table.concat(results, ";")
end

return function(functions, which, s, p, init, plain, replacement, limit)
  if which == "find" then return describe(pcall(functions.find, s, p, init, plain)) end
  if which == "match" then return describe(pcall(functions.match, s, p, init)) end
  if which == "gmatch" then return describe(pcall(gmatch_all, functions.gmatch, s, p)) end
  return describe(pcall(functions.gsub, s, p, replacement, limit))
end
