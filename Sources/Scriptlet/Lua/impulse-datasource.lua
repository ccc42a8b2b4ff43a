-- msys.db and msys.datasource (Momentum's ds_core, docs/datasources.md): queries to the
-- configuration's `Datasource "name"` scopes. In a callout, timer or delivery hook the query
-- suspends the coroutine while it runs on the datasource's own threads; elsewhere (the console's
-- msys.registerControl commands, a thread pool's job, init) it blocks, as in Momentum.
local I = __impulse
local type, tostring, tonumber, error, pairs, select = type, tostring, tonumber, error, pairs, select
local sub, find, maxn = string.sub, string.find, table.maxn
local function pack(...) return { n = select("#", ...), ... } end

local OPTIONS = { nocache = true, raise_error = true }
local function is_options(t)
  if type(t) ~= "table" then return false end
  local any = false
  for key in pairs(t) do
    if not OPTIONS[key] then return false end
    any = true
  end
  return any
end
-- Momentum's scripts write false, 0 or "false" for off.
local function flag(value, default)
  if value == nil then return default end
  return value ~= false and value ~= 0 and value ~= "0" and value ~= "false"
end
local function text(value)
  if value == nil then return nil end
  return tostring(value)
end

-- The parameters as __impulse_suspend / __impulse_block carry them: "p", n, values (nil for
-- NULL) or "n", name, value, name, value, ...
local function flatten(caller, params)
  if params == nil then return { "p", 0 } end
  if type(params) ~= "table" then error(caller .. ": the parameters must be a table", 3) end
  local count = maxn(params)
  if count > 0 then
    local flat = { "p", count }
    for i = 1, count do flat[i + 2] = text(params[i]) end
    return flat, count + 2
  end
  local flat, n = { "n" }, 1
  for key, value in pairs(params) do
    if type(key) ~= "string" then error(caller .. ": parameter names must be strings", 3) end
    flat[n + 1], flat[n + 2] = key, text(value)
    n = n + 2
  end
  return flat, n
end

-- The result as Impulse sends it: column names, then values, each "<length>:<octets>" or "-"
-- (NULL). With `arrays`, rows are arrays in the columns' order instead of tables by name.
local function decode(columns, blob, arrays)
  local names, rows, pos, row, column = {}, {}, 1, nil, 0
  local function value()
    if sub(blob, pos, pos) == "-" then pos = pos + 1; return nil end
    local colon = find(blob, ":", pos, true)
    local length = tonumber(sub(blob, pos, colon - 1))
    local v = sub(blob, colon + 1, colon + length)
    pos = colon + length + 1
    return v
  end
  for i = 1, columns do names[i] = value() end
  while pos <= #blob do
    if column == 0 then row = {}; rows[#rows + 1] = row end
    column = column + 1
    local name = names[column]
    if arrays then name = column elseif name == nil or name == "" then name = tostring(column) end
    row[name] = value()
    if column == columns then column = 0 end
  end
  return rows
end

-- A wait for msys.db and msys.http: the coroutine suspends where it can (a callout, a timer, a
-- delivery hook); elsewhere (console commands, pool jobs, init) the thread blocks.
function I.wait(...)
  if I.in_pool or not coroutine.running() then return __impulse_block(...) end
  return __impulse_suspend(...)
end

local function call(caller, operation, cache, sql, params, options)
  if type(cache) ~= "string" then error(caller .. ": the datasource (cache) name must be a string", 3) end
  if type(sql) ~= "string" then error(caller .. ": the statement must be a string", 3) end
  if options == nil and is_options(params) then params, options = nil, params end
  if options ~= nil and type(options) ~= "table" then error(caller .. ": the options must be a table", 3) end
  options = options or {}
  local flat, n = flatten(caller, params)
  local nocache = flag(options.nocache, false) and "1" or "0"
  local answer = pack(I.wait("db", operation, cache, sql, nocache, unpack(flat, 1, n)))
  if answer[1] ~= "ok" then
    local reason = tostring(answer[2])
    if flag(options.raise_error, true) then error(caller .. ": " .. reason, 3) end
    return nil, reason
  end
  return answer
end

msys.db = {}
-- msys.db.query(cache, sql[, params][, options]): an iterator over the rows (`for row in rs do`),
-- each a table keyed by column name, values as strings (nil for NULL); or nil, err.
function msys.db.query(cache, sql, params, options)
  local answer, err = call("msys.db.query", "query", cache, sql, params, options)
  if not answer then return nil, err end
  local rows, i = decode(answer[2], answer[3]), 0
  return function()
    i = i + 1
    return rows[i]
  end
end
-- msys.db.fetch_row(cache, sql[, params][, options]): the first row, or nil (no row; or nil, err).
function msys.db.fetch_row(cache, sql, params, options)
  local answer, err = call("msys.db.fetch_row", "fetch_row", cache, sql, params, options)
  if not answer then return nil, err end
  return decode(answer[2], answer[3])[1]
end
-- msys.db.execute(cache, sql[, params][, options]): true and the number of rows changed, or
-- false, err. Never cached.
function msys.db.execute(cache, sql, params, options)
  local answer, err = call("msys.db.execute", "execute", cache, sql, params, options)
  if not answer then return false, err end
  return true, answer[4]
end

-- For Impulse's own Lua (msys.cidr's datasource tables): every row as an array, or nil, err.
function I.db_rows(cache, sql)
  local answer, err = call("msys.cidr.define", "query", cache, sql, nil, { raise_error = false, nocache = true })
  if not answer then return nil, err end
  return decode(answer[2], answer[3], true)
end

msys.datasource = msys.db
package.preload["msys.db"] = function() return msys.db end
package.preload["msys.datasource"] = function() return msys.db end
I.supported["msys.db"] = true
I.supported["msys.datasource"] = true
