-- The msys library around the objects (docs/lua/library.md): constants, codecs, the dumper, json,
-- logging, idn, cidr tables, gauge caches, counters, audit, more msg methods and the rfc2822
-- macros. Runs after the prelude, whose internals it reaches through `__impulse`; the Swift
-- halves are in PolicyState+Library.swift.
local I = __impulse
local core = msys.core
local format, find, gsub, byte, char, sub = string.format, string.find, string.gsub, string.byte, string.char, string.sub
local concat = table.concat
local cjson = __impulse_cjson
__impulse_cjson = nil

local function preload(name, value)
  package.preload[name] = function() return value end
  I.supported[name] = true
end

-- Constants (docs/lua/library.md). Only VALIDATE_* and VCTX_* values are known from Momentum; the others
-- are Impulse's (scripts compare against the names, never the numbers).
local constants = {
  EC_MSG_ENV_FROM = 1, EC_MSG_ENV_TO = 2, EC_MSG_ENV_COMPLETE = 4,
  AF_INET = 2, AF_INET6 = 10,
  P_INTERNAL = 0, P_ESMTP = 2, P_SMPP = 3, P_MM7 = 4,
  EC_MIME_TE_7BIT = 0, EC_MIME_TE_8BIT = 1, EC_MIME_TE_BASE64 = 2, EC_MIME_TE_QUOTED_PRINTABLE = 3,
  EC_AUTH_OK = 0, EC_AUTH_FAIL = 1, EC_AUTH_ERROR = 2,
  ECTP_COMPLETE_CALLBACK = 0, ECTP_COMPLETE_CALLBACK_SCHED = 1,
  EC_HOOK_CONT = 0, EC_HOOK_DONE = 1, EC_HOOK_RETRY = 2,
  EC_MESSAGE_ENQUEUE_HOOK_CONT = 0, EC_MESSAGE_ENQUEUE_HOOK_OK = 1, EC_MESSAGE_ENQUEUE_HOOK_ERR = 2,
  FAILED = "failed", DELAYED = "delayed", DELIVERED = "delivered", RELAYED = "relayed", EXPANDED = "expanded",
  LOG_EMERG = 0, LOG_ALERT = 1, LOG_CRIT = 2, LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7,
  O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_RDRW = 2, O_CREAT = 64, O_APPEND = 1024, O_BINARY = 0,
}
for name, value in pairs(constants) do core[name] = value end
-- Momentum's manual uses these bare, as globals, in its core_ec_message_enqueue example.
for _, name in ipairs({ "EC_MESSAGE_ENQUEUE_HOOK_CONT", "EC_MESSAGE_ENQUEUE_HOOK_OK", "EC_MESSAGE_ENQUEUE_HOOK_ERR" }) do
  _G[name] = constants[name]
end

-- msys.tls_params.set(params, key, value): in core_get_outbound_tls_parameters, one of the
-- connection's TLS settings (docs/delivery.md): certfile, keyfile, ca, cipherlist. Any other key
-- is an error: a setting Impulse would not apply must not look applied.
local tls_keys = { certfile = true, keyfile = true, ca = true, cipherlist = true }
msys.tls_params = {}
function msys.tls_params.set(params, key, value)
  if type(params) ~= "table" then error("msys.tls_params.set: expected the hook's params", 2) end
  key = tostring(key)
  if not tls_keys[key] then
    error("msys.tls_params.set: unknown parameter '" .. key .. "' (certfile, keyfile, ca, cipherlist)", 2)
  end
  params[key] = tostring(value)
  return true
end
preload("msys.tls_params", msys.tls_params)

-- msys.core.string_new([text]): an ec_string (`tostring(s)`, `s.buffer`, `s:set()`).
function core.string_new(text) return I.ec_string(text ~= nil and tostring(text) or "") end
function core.get_now_ts() return os.time() end
function core.ec_sockaddr_family(address)
  if type(address) == "table" and address.family then return address.family end
  return nil
end
function core.accept_construct_get_message_construct(ac)
  local session = type(ac) == "table" and ac.__session
  if not session then error("accept_construct_get_message_construct: not an accept construct", 2) end
  return { message = session.msg, ctx = session.vctx, accept = ac }
end
function core.ec_message_context_get(msg, scope, key) return msg:context_get(scope, key) end
function core.ec_message_context_set(msg, scope, key, value) return msg:context_set(scope, key, value) end

-- msys.base64 (RFC 4648 §4) and msys.qp (RFC 2045 §6.7).
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64_encode(text)
  text = tostring(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = byte(text, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1, d2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local d3, d4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(alphabet, d1 + 1, d1 + 1) .. sub(alphabet, d2 + 1, d2 + 1)
      .. (b and sub(alphabet, d3 + 1, d3 + 1) or "=") .. (c and sub(alphabet, d4 + 1, d4 + 1) or "=")
  end
  return concat(out)
end
msys.base64 = { encode = base64_encode, decode = function(text) return I.base64_decode(tostring(text)) end }
preload("msys.base64", msys.base64)

local function qp_encode(text)
  text = tostring(text)
  local lines = {}
  for line, ending in string.gmatch(text .. "\n", "([^\n]*)(\n)") do
    local crlf = sub(line, -1) == "\r"
    if crlf then line = sub(line, 1, -2) end
    local encoded = gsub(line, "[^\33-\60\62-\126 \t]", function(c) return format("=%02X", byte(c)) end)
    encoded = gsub(encoded, "([ \t])$", function(c) return format("=%02X", byte(c)) end)
    -- Soft line breaks keep lines within 76 characters.
    local pieces = {}
    while #encoded > 76 do
      local cut = 75
      if sub(encoded, cut - 1, cut - 1) == "=" then cut = cut - 2 elseif sub(encoded, cut, cut) == "=" then cut = cut - 1 end
      pieces[#pieces + 1] = sub(encoded, 1, cut) .. "="
      encoded = sub(encoded, cut + 1)
    end
    pieces[#pieces + 1] = encoded
    lines[#lines + 1] = concat(pieces, "\r\n")
  end
  return concat(lines, "\r\n")
end
local function qp_decode(text)
  text = gsub(tostring(text), "=\r?\n", "")
  return (gsub(text, "=(%x%x)", function(hex) return char(tonumber(hex, 16)) end))
end
msys.qp = { encode = qp_encode, decode = qp_decode }
preload("msys.qp", msys.qp)

-- msys.dumper.Dumper(value): readable Lua-constructor text, keys sorted, cycles marked.
local function dump(value, indent, seen)
  local kind = type(value)
  if kind == "string" then return format("%q", value) end
  if kind ~= "table" then return tostring(value) end
  if seen[value] then return "<cycle>" end
  seen[value] = true
  local keys = {}
  for key in pairs(value) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  if #keys == 0 then seen[value] = nil return "{}" end
  local inner = indent .. "  "
  local lines = {}
  for _, key in ipairs(keys) do
    local label = type(key) == "string" and find(key, "^[%a_][%w_]*$") and key or "[" .. dump(key, inner, seen) .. "]"
    lines[#lines + 1] = inner .. label .. " = " .. dump(value[key], inner, seen)
  end
  seen[value] = nil
  return "{\n" .. concat(lines, ",\n") .. "\n" .. indent .. "}"
end
msys.dumper = { Dumper = function(value) return dump(value, "", {}) end }
preload("msys.dumper", msys.dumper)

-- json (lua-cjson): decode failure gives nil, code, message as in Momentum.
if cjson then
  local json = {}
  function json.new() return {} end
  function json.encode(value)
    local ok, result = pcall(cjson.encode, value)
    if not ok then return nil, 1, tostring(result) end
    return result
  end
  function json.decode(text)
    local ok, result = pcall(cjson.decode, tostring(text))
    if not ok then return nil, 1, tostring(result) end
    return result
  end
  function json.strerror(code) return code == 1 and "invalid JSON" or "no error" end
  json.null = cjson.null
  preload("json", json)
  -- A global too, as in Momentum's Lua, where scripts use json without requiring it.
  _G.json = json
end

-- thread (Threaded Lua's library): in Impulse no Lua data is shared between OS threads (one
-- state per event loop), so a mutex has nothing to guard; lock, unlock and trylock succeed.
local MUTEX = { lock = function() return true end, unlock = function() return true end, trylock = function() return true end }
MUTEX.__index = MUTEX
thread = { MUTEX_NORMAL = 0, MUTEX_RECURSIVE = 1, MUTEX_ERRORCHECK = 2 }
function thread.mutex() return setmetatable({}, MUTEX) end
preload("thread", thread)

-- msys.log(level, ...) and msys.type(x).
function msys.log(level, ...)
  local parts = {}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  __impulse_log(tonumber(level) or core.LOG_INFO, concat(parts, " "))
end
local type_names = { [I.MSG] = "ec_message", [I.SOCKADDR] = "ec_sockaddr", [I.ECSTRING] = "ec_string" }
function msys.type(value)
  local mt = getmetatable(value)
  if type(value) == "table" and value.__session then
    if value == value.__session.vctx then return "validate_context" end
    if value == value.__session.accept then return "accept_construct" end
  end
  if mt and type_names[mt] then return type_names[mt] end
  return type(value)
end

-- msys.idn (IDNA2008 through libidn2): nil and a message for what cannot be converted.
msys.idn = {
  to_idn = function(name) return __impulse_idn("ascii", tostring(name)) end,
  to_utf8 = function(name) return __impulse_idn("unicode", tostring(name)) end,
}
preload("msys.idn", msys.idn)

-- msys.cidr: tables of blocks and values, shared by every Lua state of the server.
--   define(name, { type = "rbldnsd", source = path [, default_value = v] [, record_type = "A"|"TXT"]
--                  [, interpolate = true] })          (`file` is taken for `source` too)
--   define(name, { type = "datasource", cachename = ds, query = sql [, refresh = seconds] })
--   define(name, { type = "empty" [, default_value = v] })
--   define(name, { type = "inline", entries = { ["10.0.0.0/8"] = "internal", ... } })  (Impulse's)
--   query(name[, address]) → the value of the most specific block, or the default value
msys.cidr = {}
local cidr_timers = {}
-- A datasource table: the query's rows, first column a block, second its value (1 without one).
-- The datasource package loads after this one, so it is looked up when a table is defined.
local function cidr_from_datasource(name, options, default, interpolate)
  local rows, err = I.db_rows(tostring(options.cachename), tostring(options.query))
  if not rows then
    print(format("msys.cidr.define %s: datasource %s: %s", name, tostring(options.cachename), tostring(err)))
    return false
  end
  local lines = {}
  for _, row in ipairs(rows) do
    if row[1] then lines[#lines + 1] = tostring(row[1]) .. " " .. tostring(row[2] or "1") end
  end
  __impulse_cidr_define(name, nil, concat(lines, "\n"), default, nil, interpolate)
  return true
end
function msys.cidr.define(name, options)
  if type(name) ~= "string" then error("msys.cidr.define: the name must be a string", 2) end
  if type(options) ~= "table" then options = { type = options } end
  local kind = options.type or ((options.source or options.file) and "rbldnsd") or "empty"
  local default = options.default_value ~= nil and tostring(options.default_value) or nil
  local interpolate = options.interpolate == true or options.interpolate == 1 or options.interpolate == "true"
  local ok, count, problem
  if kind == "rbldnsd" then
    local path = options.source or options.file or options.path
    if type(path) ~= "string" then error("msys.cidr.define: type rbldnsd needs source = path", 2) end
    ok, count, problem = __impulse_cidr_define(name, (gsub(path, "^file://", "")), nil, default,
                                               options.record_type and tostring(options.record_type), interpolate)
  elseif kind == "datasource" then
    if options.cachename == nil or options.query == nil then
      error("msys.cidr.define: type datasource needs cachename and query", 2)
    end
    cidr_from_datasource(name, options, default, interpolate)
    local refresh = tonumber(options.refresh or 1800) or 1800
    if refresh > 0 then
      local ok_timer, timer = pcall(msys.timer.every, refresh, function()
        cidr_from_datasource(name, options, default, interpolate)
      end)
      if ok_timer then cidr_timers[name] = timer end
    end
  elseif kind == "inline" then
    local lines = {}
    for block, value in pairs(options.entries or {}) do lines[#lines + 1] = tostring(block) .. " " .. tostring(value) end
    ok, count, problem = __impulse_cidr_define(name, nil, concat(lines, "\n"), default, nil, interpolate)
  elseif kind == "empty" then
    ok, count = __impulse_cidr_define(name, nil, "", default)
  else
    error("msys.cidr.define: type '" .. tostring(kind) .. "' is not supported by Impulse (rbldnsd, datasource, inline, empty)", 2)
  end
  if problem then print(format("msys.cidr.define %s: %s", name, problem)) end
  return true
end
function msys.cidr.query(name, address)
  if address == nil then
    local sid = I.current_session()
    local session = sid and I.sessions[sid]
    if not session then error("msys.cidr.query: no address given and no session", 2) end
    address = session.peer.ip
  elseif type(address) == "table" and address.ip then
    address = address.ip
  end
  return __impulse_cidr_query(tostring(name), tostring(address))
end
function msys.cidr.reload(name)
  local path, default, interpolate, record_type = __impulse_cidr_source(tostring(name))
  if not path then return false end
  __impulse_cidr_define(tostring(name), path, nil, default, record_type, interpolate)
  return true
end
preload("msys.cidr", msys.cidr)

-- msys.gauge_cache: named counters of items (e.g. sessions per IP), shared by every state.
msys.gauge_cache = {
  define = function(name, maxelems, ttl, replicated) return __impulse_gauge("define", tostring(name), tonumber(maxelems) or 1000, tonumber(ttl) or 0) end,
  inc = function(name, key, n) return __impulse_gauge("inc", tostring(name), tostring(key), tonumber(n) or 1) end,
  dec = function(name, key, n) return __impulse_gauge("dec", tostring(name), tostring(key), tonumber(n) or 1) end,
  get = function(name, key) return __impulse_gauge("get", tostring(name), tostring(key)) end,
  remove_item = function(name, key) return __impulse_gauge("remove", tostring(name), tostring(key)) end,
}
preload("msys.gauge_cache", msys.gauge_cache)

-- msys.counter: 64-bit counters by path, shared by every state. Momentum's own namespaces are
-- /site/<name> and /vendor/<name>; Impulse takes any absolute path of name characters (a path
-- nothing counts reads 0). Every function takes an opened counter or the path itself.
local COUNTER = {}
COUNTER.__index = COUNTER
COUNTER.__tostring = function(self) return "counter " .. self.path end
msys.counter = { STRICT = 0, RELAXED = 1 }
local function counter_path(path)
  path = tostring(path)
  if #path > 255 or not find(path, "^/[%w_%-%.]+[%w_%-%./]*$") or find(path, "//", 1, true) then
    return nil, "a counter path is /<name>[/<name>…] of letters, digits, '_', '-' and '.' (e.g. /site/rejects)"
  end
  return path
end
function msys.counter.open(path, mode)
  local checked, err = counter_path(path)
  if not checked then return nil, err end
  return setmetatable({ path = checked }, COUNTER)
end
local function path_of(counter, caller)
  if type(counter) == "table" and getmetatable(counter) == COUNTER then return counter.path end
  local checked, err = counter_path(counter)
  if not checked then error(caller .. ": " .. err, 3) end
  return checked
end
function msys.counter.inc(counter) return __impulse_counter("add", path_of(counter, "msys.counter.inc"), 1) end
function msys.counter.add(counter, n)
  return __impulse_counter("add", path_of(counter, "msys.counter.add"), tonumber(n) or 0)
end
function msys.counter.read(counter) return __impulse_counter("read", path_of(counter, "msys.counter.read")) end
function msys.counter.reset(counter) return __impulse_counter("reset", path_of(counter, "msys.counter.reset")) end
function msys.counter.unlink(counter)
  __impulse_counter("unlink", path_of(counter, "msys.counter.unlink"))
  return true
end
COUNTER.inc, COUNTER.add, COUNTER.read = msys.counter.inc, msys.counter.add, msys.counter.read
COUNTER.reset, COUNTER.unlink = msys.counter.reset, msys.counter.unlink
preload("msys.counter", msys.counter)

-- msys.audit.inbound_session_count(cidr[, service]): open SMTP sessions from a network. A
-- relative mask ("/32", "/24") widens the current session's client address, as
-- ac:inbound_session_count does; outside a session it counts nothing.
msys.audit = {
  inbound_session_count = function(cidr, service)
    if service ~= nil and string.upper(tostring(service)) ~= "SMTP" then return 0 end
    cidr = tostring(cidr)
    if string.sub(cidr, 1, 1) == "/" then
      local sid = I.current_session()
      local session = sid and I.sessions[sid]
      if not session then return 0 end
      cidr = session.peer.ip .. cidr
    end
    return __impulse_session_count(cidr)
  end,
}
preload("msys.audit", msys.audit)

-- msys.audit_series (Momentum's audit series): counts over a rolling set of time windows, per
-- client address (type "cidr", "cidr_ipv6") or per string key ("string"), shared by every state.
-- A key for an address series is an address, "addr/mask" or "/mask" (around the current
-- session's client, which nil means too), or an accept construct (its client).
local function series_key(name, key, caller)
  if key == nil or type(key) == "table" then
    if __impulse_audit_series("kind", tostring(name)) == "string" then
      error(caller .. ": a string series needs a key", 3)
    end
  end
  if type(key) == "table" and key.__session then return key.__session.peer.ip end
  if key == nil or (type(key) == "string" and string.sub(key, 1, 1) == "/") then
    local sid = I.current_session()
    local session = sid and I.sessions[sid]
    if not session then return nil end
    return session.peer.ip .. (key or "")
  end
  return tostring(key)
end
local function series_options(options)
  if type(options) == "table" and getmetatable(options) == nil and not options.__session then return options end
  return { key = options }
end
msys.audit_series = {}
function msys.audit_series.define(name, kind, interval, windows, options)
  return __impulse_audit_series("define", tostring(name), tostring(kind), tonumber(interval), tonumber(windows))
end
function msys.audit_series.add(name, options)
  options = series_options(options)
  local key = series_key(name, options.key, "msys.audit_series.add")
  if key == nil then return false end
  return __impulse_audit_series("add", tostring(name), key, tonumber(options.count) or 1)
end
function msys.audit_series.count(name, options)
  options = series_options(options)
  local key = series_key(name, options.key, "msys.audit_series.count")
  if key == nil then return 0 end
  return __impulse_audit_series("count", tostring(name), key, tonumber(options.startv) or 0, tonumber(options.endv) or 0)
end
function msys.audit_series.remove_item(name, key)
  key = series_key(name, key, "msys.audit_series.remove_item")
  if key == nil then return false end
  return __impulse_audit_series("remove", tostring(name), key)
end
preload("msys.audit_series", msys.audit_series)

-- msys.core.dns_get_domain(name): the domain record delivery hooks get for a domain (its name);
-- msys.core.mail_queue_delay_domain(dr or name, note): the domain's queues wait out their retry
-- interval (as when its next hop does not answer), `note` their last error; returns how many
-- messages waited.
function core.dns_get_domain(name)
  name = string.lower(tostring(name or ""))
  if name == "" or #name > 255 or find(name, "[%s@]") then return nil end
  return { type = "domain_record", domain = name, name = name }
end
function core.mail_queue_delay_domain(record, note)
  local domain = type(record) == "table" and (record.domain or record.name) or record
  if type(domain) ~= "string" then error("msys.core.mail_queue_delay_domain: expected a domain record or name", 2) end
  return __impulse_queue_delay_domain(domain, note ~= nil and tostring(note) or nil)
end

-- msys.config(action, ...): the console's `config get` / `config eval` over the configuration as
-- last read; returns the value (nil when not set) and the console's text.
function msys.config(action, ...)
  local words = { tostring(action or "") }
  for i = 1, select("#", ...) do words[#words + 1] = tostring((select(i, ...))) end
  return __impulse_config(unpack(words))
end

-- msys.bounce: Momentum's bounce classification codes (10 invalid recipient, 20 soft bounce,
-- 50 mail block … docs/lua/library.md) from a reply: the same rules as the bouncelog.
msys.bounce = {}
-- `domain` (the recipient's) selects the operator's domain rules (bounce_classifier_override).
function msys.bounce.classify_smtp_response(text, domain)
  return __impulse_bounce_classify(tostring(text or ""), domain ~= nil and tostring(domain) or nil)
end
-- The code for the reply set on a message (msg:code, vctx:set_code); 1 (undetermined) without
-- one. In a delivery hook, classify the next hop's answer (the hook's note) with
-- classify_smtp_response.
function msys.bounce.classify(msg)
  if type(msg) ~= "table" or getmetatable(msg) ~= I.MSG then error("msys.bounce.classify: expected a message", 2) end
  local code, text = msg:get_code()
  if code == nil and text == nil then return 1 end
  local ok, domain = pcall(function() return msg:routing_domain() end)
  return __impulse_bounce_classify(tostring(code or "") .. " " .. tostring(text or ""), ok and domain or nil)
end
preload("msys.bounce", msys.bounce)

-- msys.adaptive.registerRules(rules[, "augment"|"replace"]): response-driven back-off rules in
-- Momentum's Adaptive Delivery shape (docs/delivery.md, Adaptive back-off):
--   { ["domain"] = { responses = { { code = "<PCRE>", trigger = "1"|"N/S",
--       action = {"throttle", "down"} | { {"suspend", "4 hours"}, … }, message = "…" }, … } },
--     ["alias.example"] = "domain" }
-- An action list may also be flat name/parameter pairs ({"transcode", "554 …", "throttle", "down"}).
-- `configuration` elements are not applied (Impulse's limits come from the configuration file).
msys.adaptive = {}
local function adaptive_actions(action, where)
  if type(action) ~= "table" then
    error(where .. ": action must be a table such as {\"suspend\", \"4 hours\"}", 3)
  end
  local flat = {}
  if type(action[1]) == "table" then
    for _, one in ipairs(action) do
      flat[#flat + 1] = tostring(one[1]); flat[#flat + 1] = tostring(one[2] == nil and "" or one[2])
    end
  else
    for i = 1, #action, 2 do
      flat[#flat + 1] = tostring(action[i]); flat[#flat + 1] = tostring(action[i + 1] == nil and "" or action[i + 1])
    end
  end
  return flat
end
function msys.adaptive.registerRules(rules, mode)
  mode = mode == nil and "augment" or tostring(mode)
  if mode ~= "augment" and mode ~= "replace" then
    error("msys.adaptive.registerRules: the mode is \"augment\" or \"replace\", not \"" .. mode .. "\"", 2)
  end
  if type(rules) ~= "table" then error("msys.adaptive.registerRules: expected a table of domains", 2) end
  local records = {}
  for domain, entry in pairs(rules) do
    domain = tostring(domain)
    local where = "msys.adaptive.registerRules: " .. domain
    if type(entry) == "string" then
      records[#records + 1] = table.concat({ "alias", domain, entry }, "\31")
    elseif type(entry) == "table" then
      local responses = entry.responses or entry.rules
      if type(responses) == "table" and responses.code ~= nil then responses = { responses } end
      for _, response in ipairs(responses or {}) do
        if type(response) ~= "table" or response.code == nil then error(where .. ": a response needs a code", 2) end
        local fields = { "rule", domain, tostring(response.code), tostring(response.trigger or "1"),
                         tostring(response.message or "") }
        for _, value in ipairs(adaptive_actions(response.action, where)) do fields[#fields + 1] = value end
        for _, value in ipairs(fields) do
          if string.find(value, "[\30\31]") then error(where .. ": control characters in a rule", 2) end
        end
        records[#records + 1] = table.concat(fields, "\31")
      end
    else
      error(where .. ": expected a table of responses or an alias name", 2)
    end
  end
  local problem = __impulse_adaptive_register(mode, table.concat(records, "\30"))
  if problem then error("msys.adaptive.registerRules: " .. problem, 2) end
  return true
end
preload("msys.adaptive", msys.adaptive)

-- msys.parseRFC2822Addresses(text[, component]) and msg:address_header(name[, component]):
-- the addresses of an address list (RFC 5322 §3.4), as components: "all" (default; the
-- address), "localpart"/"user", "domain", "name" (display name).
local function parse_addresses(text)
  local results, i, n = {}, 1, #text
  local name_parts, address, in_angle, current = {}, nil, false, {}
  local function finish()
    local plain = gsub(gsub(concat(current), "^%s+", ""), "%s+$", "")
    local display = gsub(gsub(concat(name_parts), "^%s+", ""), "%s+$", "")
    if address or plain ~= "" then
      local addr = address or plain
      if find(addr, "@") then
        results[#results + 1] = { address = addr, name = address and display or "" }
      end
    end
    name_parts, address, current = {}, nil, {}
  end
  while i <= n do
    local c = sub(text, i, i)
    if c == '"' then
      local j, buf = i + 1, {}
      while j <= n and sub(text, j, j) ~= '"' do
        if sub(text, j, j) == "\\" then j = j + 1 end
        buf[#buf + 1] = sub(text, j, j)
        j = j + 1
      end
      local quoted = concat(buf)
      if in_angle then current[#current + 1] = '"' .. quoted .. '"' else name_parts[#name_parts + 1] = quoted; current[#current + 1] = '"' .. quoted .. '"' end
      i = j + 1
    elseif c == "(" then
      local depth, j = 1, i + 1
      while j <= n and depth > 0 do
        local d = sub(text, j, j)
        if d == "\\" then j = j + 1 elseif d == "(" then depth = depth + 1 elseif d == ")" then depth = depth - 1 end
        j = j + 1
      end
      i = j
    elseif c == "<" then
      in_angle, current = true, {}
      i = i + 1
    elseif c == ">" then
      address = gsub(concat(current), "%s", "")
      in_angle, current = false, {}
      i = i + 1
    elseif (c == "," or c == ";") and not in_angle then
      finish()
      i = i + 1
    elseif c == ":" and not in_angle then
      name_parts, current = {}, {}  -- a group's name
      i = i + 1
    else
      current[#current + 1] = c
      if not in_angle then name_parts[#name_parts + 1] = c end
      i = i + 1
    end
  end
  finish()
  return results
end
local function component_of(entry, component)
  component = component or "all"
  local localpart, domain = string.match(entry.address, "^(.*)@([^@]*)$")
  if component == "localpart" or component == "user" then return localpart end
  if component == "domain" then return domain end
  if component == "name" then return entry.name end
  return entry.address
end
function msys.parseRFC2822Addresses(text, component)
  local out = {}
  for _, entry in ipairs(parse_addresses(tostring(text))) do out[#out + 1] = component_of(entry, component) end
  return out
end
function I.MSG:address_header(name, component)
  local out = {}
  for _, value in ipairs(self:header(name)) do
    for _, entry in ipairs(parse_addresses(value)) do out[#out + 1] = component_of(entry, component) end
  end
  return out
end

-- msg:text(): the readable text of the message: the body of a single-part message, or of its
-- first text/plain part, with its Content-Transfer-Encoding (base64, quoted-printable) undone.
-- A part's first field of the (lower-cased) name, decoded; fields are header_fields' records.
local function first_field(fields, lower)
  for _, field in ipairs(fields) do
    if field.lower == lower then return I.field_value(field.text) end
  end
  return nil
end
local function decode_part(fields, body)
  local encoding = string.lower(first_field(fields, "content-transfer-encoding") or "")
  if find(encoding, "base64", 1, true) then return I.base64_decode(body) end
  if find(encoding, "quoted-printable", 1, true) then return qp_decode(body) end
  return body
end
local function content_type(fields)
  return first_field(fields, "content-type") or "text/plain"
end
function I.MSG:text()
  -- The message's own header fields and body as msg:header and msg:body see them (taken apart
  -- once per message); only the parts of a multipart body are taken apart here.
  local parts = I.message_parts(self.__session)
  if not parts then error("msg:text: the message content is not available in this phase", 2) end
  local headers, body = parts.fields, parts.body
  local ctype = content_type(headers)
  local boundary = string.match(ctype, '[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]="([^"]+)"') or string.match(ctype, "[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]=([^;%s]+)")
  if string.lower(sub(ctype, 1, 10)) == "multipart/" and boundary then
    local marker = "--" .. boundary
    local start = find(body, marker, 1, true)
    while start do
      local part_start = find(body, "\n", start, true)
      local next_marker = part_start and find(body, "\r\n" .. marker, part_start, true)
      if not next_marker then break end
      local part = sub(body, part_start + 1, next_marker - 1)
      local part_block, part_body = I.split_message(part)
      local part_headers = I.header_fields(part_block)
      if string.lower(sub(content_type(part_headers), 1, 10)) == "text/plain" then return decode_part(part_headers, part_body) end
      start = next_marker + 2
    end
    return ""
  end
  return decode_part(headers, body)
end

-- msg:raw_match / body_match / text_match(pattern): true when the PCRE pattern matches;
-- msg:raw_replace / body_replace(pattern, replacement): replaces every match, true when changed.
local function part_of(msg, which)
  if which == "raw" then return (msg:raw()) end
  if which == "text" then return msg:text() end
  return msg:body()
end
for _, which in ipairs({ "raw", "body", "text" }) do
  I.MSG[which .. "_match"] = function(self, pattern)
    local captures, message = msys.pcre.match(part_of(self, which), pattern)
    if message then error("msg:" .. which .. "_match: " .. message, 2) end
    return captures ~= nil
  end
end
function I.MSG:body_replace(pattern, replacement)
  local body = self:body()
  local changed, message = msys.pcre.replace(body, pattern, replacement)
  if not changed then error("msg:body_replace: " .. tostring(message), 2) end
  if changed == body then return false end
  self:body(changed)
  return true
end
function I.MSG:raw_replace(pattern, replacement)
  local raw = self:raw()
  local changed, message = msys.pcre.replace(raw, pattern, replacement)
  if not changed then error("msg:raw_replace: " .. tostring(message), 2) end
  if changed == raw then return false end
  I.set_content(self.__session, changed)
  return true
end

-- Message generation: msys.core.ec_message_new(now), m:build(headers, parts[, attachments]),
-- m:inject(mailfrom, rcptto).
--   headers: { ["Subject"] = "…", … } or { { "Subject", "…" }, … } (order kept)
--   parts: a string (text/plain), or { ["text/plain"] = "…", ["text/html"] = "…" } (alternatives)
--   attachments: { { type = "application/pdf", name = "a.pdf", content = "…" }, … } (base64)
-- inject suspends the callout until the message is spooled (fsync'd); rcptto may list several
-- addresses separated by commas. It returns the new message's id, or nil and the reason.
local boundary_count = 0
local function boundary()
  boundary_count = boundary_count + 1
  return format("=_impulse_%d_%d_%d", os.time(), math.random(1, 1e9), boundary_count)
end
local function wrap64(text)
  return (gsub(base64_encode(text), "(" .. string.rep(".", 76) .. ")", "%1\r\n"))
end
local function crlf(text) return (gsub(gsub(tostring(text), "\r?\n", "\n"), "\n", "\r\n")) end
local function leaf(ctype, content)
  if find(content, "[\128-\255]") then
    return "Content-Type: " .. ctype .. "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" .. qp_encode(crlf(content))
  end
  return "Content-Type: " .. ctype .. "; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" .. crlf(content)
end
local function multipart(subtype, bodies)
  local b = boundary()
  local out = { "Content-Type: multipart/" .. subtype .. "; boundary=\"" .. b .. "\"\r\n\r\n" }
  for _, body in ipairs(bodies) do out[#out + 1] = "--" .. b .. "\r\n" .. body .. "\r\n" end
  out[#out + 1] = "--" .. b .. "--\r\n"
  return concat(out)
end
function core.ec_message_new(now)
  local session = { conn = {}, mess = {}, raw = "\r\n", generated = true }
  return setmetatable({ __session = session, priority = 0, recv_method = core.P_INTERNAL }, I.MSG)
end
function I.MSG:build(headers, parts, attachments)
  local session = self.__session
  local lines, seen = {}, {}
  local function add(name, value)
    name = I.field_name(name, "msg:build")
    seen[string.lower(name)] = true
    lines[#lines + 1] = name .. ": " .. I.folded_value(value, "msg:build") .. "\r\n"
  end
  if type(headers) == "table" and headers[1] ~= nil then
    for _, pair in ipairs(headers) do add(pair[1], pair[2]) end
  else
    local names = {}
    for name in pairs(headers or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do add(name, headers[name]) end
  end
  if not seen["date"] then add("Date", os.date("!%a, %d %b %Y %H:%M:%S +0000")) end
  if not seen["mime-version"] then add("MIME-Version", "1.0") end
  local body
  if type(parts) == "table" then
    local types = {}
    for ctype in pairs(parts) do types[#types + 1] = ctype end
    table.sort(types, function(a, b)  -- text/plain first (RFC 2046 §5.1.4: simplest first)
      if a == "text/plain" then return b ~= "text/plain" end
      if b == "text/plain" then return false end
      return a < b
    end)
    local bodies = {}
    for _, ctype in ipairs(types) do bodies[#bodies + 1] = leaf(ctype, parts[ctype]) end
    body = #bodies == 1 and bodies[1] or multipart("alternative", bodies)
  else
    body = leaf("text/plain", parts or "")
  end
  if type(attachments) == "table" and #attachments > 0 then
    local bodies = { body }
    for _, a in ipairs(attachments) do
      local name = gsub(tostring(a.name or "attachment"), '["\r\n]', "")
      bodies[#bodies + 1] = "Content-Type: " .. tostring(a.type or "application/octet-stream") .. "; name=\"" .. name .. "\"\r\n"
        .. "Content-Disposition: attachment; filename=\"" .. name .. "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .. wrap64(tostring(a.content or ""))
    end
    body = multipart("mixed", bodies)
  end
  I.set_content(session, concat(lines) .. body)
  return true
end
-- msg:copy(): a new message with this one's content and context, to change and inject apart
-- from it (the original is not touched).
function I.MSG:copy()
  local session = self.__session
  local raw = I.content(session)
  if not raw then error("msg:copy: the message content is not available in this phase", 2) end
  local conn, mess = {}, {}
  for key, value in pairs(session.conn or {}) do conn[key] = value end
  for key, value in pairs(session.mess or {}) do mess[key] = value end
  local copy = { conn = conn, mess = mess, raw = raw, generated = true }
  return setmetatable({ __session = copy, priority = self.priority or 0, recv_method = core.P_INTERNAL }, I.MSG)
end
-- A built message, a copy, or the received message itself (once its content is complete).
function I.MSG:inject(mailfrom, rcptto)
  local session = self.__session
  local raw = I.content(session)
  if not raw or raw == "\r\n" then error("msg:inject: build the message first", 2) end
  if not coroutine.running() then error("msg:inject: cannot suspend here (only in a callout, a timer or a delivery hook)", 2) end
  local recipients = {}
  for address in string.gmatch(tostring(rcptto or ""), "[^,]+") do
    address = I.address_of(address)
    if address ~= "" then recipients[#recipients + 1] = address end
  end
  if #recipients == 0 then error("msg:inject: no recipients", 2) end
  local answer = { __impulse_suspend("inject", I.address_of(mailfrom or ""), concat(recipients, "\n"), raw) }
  if answer[1] ~= "ok" then return nil, answer[2] end
  self.id = answer[2]
  return answer[2]
end

-- msys.registerAuth(scheme, tbl): an SMTP AUTH back-end for listeners whose Auth…Parameters uri
-- is scheme://…: tbl:authenticate(path, params, user, password) — path is what follows scheme://,
-- params the Auth…Parameters dictionary — returns msys.core.EC_AUTH_OK, EC_AUTH_FAIL or
-- EC_AUTH_ERROR, and may wait (msys.db, msys.dnsLookup …). enumGroups / queryGroups are kept,
-- not called (docs/smtp-auth.md).
local auth_schemes = {}
function msys.registerAuth(scheme, tbl)
  if type(scheme) ~= "string" or not find(scheme, "^[%w_%-]+$") then
    error("msys.registerAuth: the scheme must be a name such as \"myauth\"", 2)
  end
  if type(tbl) ~= "table" or type(tbl.authenticate) ~= "function" then
    error("msys.registerAuth: the table needs an authenticate function", 2)
  end
  auth_schemes[string.lower(scheme)] = tbl
  return true
end
-- "ok", "fail", or "error" and why.
function __impulse_authenticate(scheme, path, user, password, ...)
  local tbl = auth_schemes[scheme]
  if not tbl then return "error", "no scheme '" .. scheme .. "' was registered with msys.registerAuth" end
  local params = {}
  for i = 1, select("#", ...), 2 do params[(select(i, ...))] = (select(i + 1, ...)) end
  local status = tbl:authenticate(path, params, user, password)
  if status == core.EC_AUTH_OK then return "ok" end
  if status == core.EC_AUTH_FAIL then return "fail" end
  return "error", "authenticate returned " .. tostring(status)
end

-- msys.registerControl(name, fn): a console command. fn(cc) gets cc.argc (the command name
-- included) and cc.argv[0 .. argc-1]; what it prints is the command's output. Names may have
-- several words ("policy stats"); the longest registered one that starts the line wins.
local controls = {}
local capture
function msys.registerControl(name, fn)
  if type(name) ~= "string" or not find(name, "%S") then error("msys.registerControl: the command name must be a string", 2) end
  if type(fn) ~= "function" then error("msys.registerControl: the second argument must be a function", 2) end
  controls[string.lower((gsub(gsub(name, "^%s+", ""), "%s+", " ")))] = fn
  return true
end
local base_print = print
function print(...)
  if not capture then return base_print(...) end
  local parts = {}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  capture[#capture + 1] = concat(parts, "\t") .. "\n"
end
function __impulse_controls()
  local names = {}
  for name in pairs(controls) do names[#names + 1] = name end
  table.sort(names)
  return concat(names, "\n")
end
-- Returns nil (no such command), or ok and the output.
function __impulse_run_control(...)
  local words = { ... }
  for n = #words, 1, -1 do
    local fn = controls[string.lower(concat(words, " ", 1, n))]
    if fn then
      local cc = { argc = #words, argv = {} }
      for i = 1, #words do cc.argv[i - 1] = words[i] end
      capture = {}
      local ok, message = xpcall(fn, debug.traceback, cc)
      local output = concat(capture)
      capture = nil
      if not ok then return false, output .. "error: " .. tostring(message) .. "\n" end
      return true, output
    end
  end
  return nil
end

-- SPF's macro letters (RFC 7208 section 7.3) for the current session: the sender from MAIL FROM
-- (postmaster@ the HELO name for the null sender), the client's address and its HELO name.
-- Outside an SPF check the domain being checked ("d") is the sender's domain; "p" is "unknown"
-- (Impulse does not validate the client's PTR name here), as RFC 7208 allows.
local function ipv6_nibbles(ip)
  local head, tail = string.match(ip, "^(.-)::(.*)$")
  local groups = {}
  local function add(part)
    for group in string.gmatch(part, "[^:]+") do groups[#groups + 1] = group end
  end
  if head then
    add(head)
    local after = {}
    for group in string.gmatch(tail, "[^:]+") do after[#after + 1] = group end
    for _ = 1, 8 - #groups - #after do groups[#groups + 1] = "0" end
    for _, group in ipairs(after) do groups[#groups + 1] = group end
  else
    add(ip)
  end
  local nibbles = {}
  for _, group in ipairs(groups) do
    local padded = string.rep("0", 4 - #group) .. string.lower(group)
    for i = 1, 4 do nibbles[#nibbles + 1] = sub(padded, i, i) end
  end
  return concat(nibbles, ".")
end

local function spf_macro_value(session, letter)
  local sender = session.mess.mailfrom_address
  local helo = session.conn.ehlo_domain or "unknown"
  if sender == nil or sender == "" then sender = "postmaster@" .. helo end
  local localpart, domain = string.match(sender, "^(.*)@([^@]*)$")
  if not localpart then localpart, domain = "postmaster", sender end
  local ip = session.peer and session.peer.ip or ""
  local ipv6 = find(ip, ":", 1, true) ~= nil
  if letter == "s" then return sender end
  if letter == "l" then return localpart end
  if letter == "o" or letter == "d" then return domain end
  if letter == "i" then return ipv6 and ipv6_nibbles(ip) or ip end
  if letter == "c" then return ip end
  if letter == "p" then return "unknown" end
  if letter == "v" then return ipv6 and "ip6" or "in-addr" end
  if letter == "h" then return helo end
  if letter == "r" then return "unknown" end
  if letter == "t" then return tostring(os.time()) end
  return nil
end

-- One macro: a letter, then how many right-hand parts to keep, "r" to reverse them, and the
-- delimiters to split on ("." by default); the parts are joined with ".". An upper-case letter
-- URL-escapes the result (RFC 7208 section 7.3).
local function expand_spf_macro(session, spec)
  local letter, digits, reverse, delimiters = string.match(spec, "^(%a)(%d*)([rR]?)([%.%-%+,/_=]*)$")
  if not letter then return nil end
  local value = spf_macro_value(session, string.lower(letter))
  if value == nil then return nil end
  if digits ~= "" or reverse ~= "" or delimiters ~= "" then
    local parts = {}
    local class = "[^" .. gsub(delimiters ~= "" and delimiters or ".", "[%.%-%+]", "%%%0") .. "]+"
    for part in string.gmatch(value, class) do parts[#parts + 1] = part end
    if reverse ~= "" then
      for i = 1, math.floor(#parts / 2) do parts[i], parts[#parts + 1 - i] = parts[#parts + 1 - i], parts[i] end
    end
    local keep = tonumber(digits)
    if keep and keep > 0 and keep < #parts then
      local kept = {}
      for i = #parts - keep + 1, #parts do kept[#kept + 1] = parts[i] end
      parts = kept
    end
    value = concat(parts, ".")
  end
  if letter ~= string.lower(letter) then
    value = gsub(value, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end)
  end
  return value
end

-- %{vctx_conn:key}, %{vctx_mess:key} (the prelude's), %{rfc2822:message|headers|body|text},
-- %{rfc822:date}, %{spfv1:…} and bare SPF macros such as %{i} in msys.expandMacro, in one pass:
-- what a macro expands to is never expanded again.
local expand_session_macros = msys.expandMacro
local function expand_rfc822(what)
  if what == "date" then return os.date("!%a, %d %b %Y %H:%M:%S +0000") end
  local sid = I.current_session()
  local session = sid and I.sessions[sid]
  local raw = session and I.content(session)
  if not raw then return "" end
  local headers, body = I.split_message(raw)
  if what == "message" then return raw end
  if what == "headers" then return headers end
  if what == "body" then return body end
  if what == "text" then return session.msg:text() end
  return nil
end
function msys.expandMacro(text)
  return (gsub(tostring(text), "%%{([^}]*)}", function(spec)
    if find(spec, "^vctx_%a+:") then return expand_session_macros("%{" .. spec .. "}") end
    local what = string.match(spec, "^rfc2?822:(%w+)$")
    if what then return expand_rfc822(what) end
    local sid = I.current_session()
    local session = sid and I.sessions[sid]
    if not session then return nil end
    return expand_spf_macro(session, string.match(spec, "^spfv1:(.*)$") or spec)
  end))
end
