-- The trusted Lua code every policy state runs before the operator's scripts: the `msys` table,
-- `msys.registerModule`, the session bookkeeping, the vctx / ec_string / accept / msg objects and
-- the dispatcher that runs one callout across every registered module. Kept in Lua because it
-- manipulates Lua tables; every entry from Swift goes through a protected call.
local pairs, ipairs, type, tostring, tonumber, error, setmetatable, xpcall, select =
      pairs, ipairs, type, tostring, tonumber, error, setmetatable, xpcall, select
local traceback, format, gsub, find = debug.traceback, string.format, string.gsub, string.find

local modules = {}      -- { name = , tbl = , script = }
local sessions = {}     -- sid -> session
local loading_script = "?"
-- The session each running callout coroutine works for (several may be suspended at once).
local running = setmetatable({}, { __mode = "k" })
local function current_session_id() return running[coroutine.running() or "main"] end
local function set_current(sid) running[coroutine.running() or "main"] = sid end

-- Internals the library chunk (Lua/impulse-library.lua) builds on; filled in below.
__impulse = { bindings = {}, binding_groups = {}, binding_turn = {} }
-- A binding from the configuration, with its binding_group if it has one.
function __impulse_add_binding(name, group)
  __impulse.bindings[name] = true
  if group then
    local members = __impulse.binding_groups[group] or {}
    members[#members + 1] = name
    __impulse.binding_groups[group] = members
  end
end
function __impulse.endpoint(address, part)
  if part == "ip" then return address.ip end
  if part == "port" then return address.port end
  return tostring(address)
end

local new_table = require("table.new")
local CONN, MESS = 0, 1
local function pack(...) return { n = select("#", ...), ... } end
msys = {
  core = {
    VALIDATE_CONT = 0, VALIDATE_DONE = 1, VALIDATE_AGAIN = 2,
    VCTX_CONN = CONN, VCTX_MESS = MESS, ECMESS_CTX_CONN = CONN, ECMESS_CTX_MESS = MESS,
  },
}

local callouts = {
  init = true, deinit = true, validate_connect = true, validate_ehlo = true, validate_mailfrom = true,
  validate_rcptto = true, validate_data = true, validate_data_spool = true, validate_data_spool_each_rcpt = true,
  validate_set_binding = true, validate_rcptto_list = true, validate_rcptto_list_final = true, validate_dealloc = true,
}

-- Set by Impulse: the hook points it knows (name -> true).
__impulse_hooks = __impulse_hooks or {}
local warnings = {}

function msys.registerModule(name, tbl)
  if type(name) ~= "string" then error("msys.registerModule: the module name must be a string", 2) end
  if type(tbl) ~= "table" then error("msys.registerModule: the second argument must be a table", 2) end
  local usable = 0
  for key, value in pairs(tbl) do
    if type(key) == "string" and type(value) == "function" then
      if callouts[key] or __impulse_hooks[key] then
        usable = usable + 1
        if __impulse_hooks[key] == "delivery" then
          warnings[#warnings + 1] = format("scriptlet: %s: module %s: hook point '%s' is not called yet", loading_script, name, key)
        elseif __impulse_hooks[key] == "known" then
          warnings[#warnings + 1] = format("scriptlet: %s: module %s: hook point '%s' exists in Momentum but Impulse does not call it", loading_script, name, key)
        end
      elseif find(key, "^%l+_[%w_]+$") and not find(key, "^validate_") then
        warnings[#warnings + 1] = format("scriptlet: %s: module %s: unknown hook point '%s' (not called)", loading_script, name, key)
      elseif find(key, "^validate_") then
        warnings[#warnings + 1] = format("scriptlet: %s: module %s: unknown callout '%s' (not called)", loading_script, name, key)
      end
    end
  end
  if usable == 0 then
    warnings[#warnings + 1] = format("scriptlet: no usable methods found for module %s in registerModule call (%s)", name, loading_script)
    return
  end
  for _, module in ipairs(modules) do
    if module.name == name then
      warnings[#warnings + 1] = format("scriptlet: %s: module name '%s' is already registered by %s; error messages will be ambiguous",
                                       loading_script, name, module.script)
    end
  end
  modules[#modules + 1] = { name = name, tbl = tbl, script = loading_script }
end

-- require of Momentum's own packages.
local supported = { ["msys.core"] = true, ["msys.extended.message"] = true, ["msys.extended.vctx"] = true,
                    ["msys.extended.ac"] = true, ["msys.boot"] = true, ["msys.extended.message_routing"] = true }
-- Momentum packages outside msys.* that Impulse does not have: a clear error, not "not found".
local unsupported_other = { xml = true, curl = true, ["thread.pool"] = true }
package.preload["msys.core"] = function() return msys.core end
for name in pairs(supported) do
  if not package.preload[name] then package.preload[name] = function() return msys end end
end
table.insert(package.loaders, 2, function(name)
  if (find(name, "^msys[%./]") and not supported[name]) or unsupported_other[name] then
    return function() error(format("require '%s': not supported by Impulse (%s)", name, loading_script), 0) end
  end
end)

-- ec_string: what Momentum passes for strings and writable buffers. A userdata, so that `#buff`
-- works (LuaJIT honours __len on userdata only); tostring() gives the text.
local ecvalues = setmetatable({}, { __mode = "k" })
local eclimits = setmetatable({}, { __mode = "k" })
local ECSTRING = {}
local ECSTRING_METHODS = {
  set = function(self, text)
    text = tostring(text)
    local limit = eclimits[self]
    if limit and #text > limit then text = string.sub(text, 1, limit) end
    ecvalues[self] = text
    return #text
  end,
  get = function(self) return ecvalues[self] end,
}
-- `s.buffer` reads the text, as Momentum's ec_string field does.
ECSTRING.__index = function(self, key)
  if key == "buffer" then return ecvalues[self] or "" end
  return ECSTRING_METHODS[key]
end
ECSTRING.__tostring = function(self) return ecvalues[self] or "" end
ECSTRING.__len = function(self) return #(ecvalues[self] or "") end
ECSTRING.__concat = function(a, b) return tostring(a) .. tostring(b) end
ECSTRING.__eq = function(a, b) return tostring(a) == tostring(b) end
__impulse_set_ecstring_metatable(ECSTRING)
local function ec_string(text, limit)
  local buffer = __impulse_new_ecstring()
  ecvalues[buffer] = text or ""
  eclimits[buffer] = limit
  return buffer
end

-- vctx
local VCTX = {}
VCTX.__index = VCTX
local function dictionary(self, scope)
  local session = self.__session
  if session.closed then error("vctx used after its session ended", 3) end
  if scope == MESS or scope == "1" then return session.mess end
  return session.conn
end
local function keyof(key) if type(key) == "string" then return key end return tostring(key) end
function VCTX:get(scope, key) return dictionary(self, scope)[keyof(key)] end
function VCTX:set(scope, key, value)
  if value ~= nil and type(value) ~= "string" then value = tostring(value) end
  dictionary(self, scope)[keyof(key)] = value
end
function VCTX:exists(scope, key) return dictionary(self, scope)[keyof(key)] ~= nil and 1 or 0 end
-- A reply code a script sets: a whole number from 200 to 599 (RFC 5321 §4.2), else a Lua error
-- at the script's line; the text is what the reply says (Impulse bounds its length on the wire).
local function reply_code(code, caller)
  local number = tonumber(code)
  if not number or number ~= number or number < 200 or number > 599 or number % 1 ~= 0 then
    error(caller .. ": the reply code must be a whole number from 200 to 599, not " .. tostring(code):sub(1, 40), 3)
  end
  return number
end
local function reply_text(text, caller)
  if text == nil then return nil end
  local kind = type(text)
  if kind ~= "string" and kind ~= "number" and not (kind == "userdata" and getmetatable(text) == ECSTRING) then
    error(caller .. ": the reply text must be a string, not a " .. kind, 3)
  end
  return tostring(text)
end
function VCTX:set_code(code, text)
  local session = self.__session
  session.code, session.text = reply_code(code, "vctx:set_code"), reply_text(text, "vctx:set_code")
end
function VCTX:disconnect(code, text)
  local session = self.__session
  session.code, session.text = reply_code(code, "vctx:disconnect"), reply_text(text, "vctx:disconnect")
  session.disconnect = true
end

-- A wait a script asks for: a number of seconds from 0 to 300 (the longest wait Impulse holds a
-- session for; NaN, infinity, negative and larger numbers are errors).
local max_wait = __impulse_max_sleep
local function seconds_of(seconds, caller)
  local number = tonumber(seconds)
  if not number or number ~= number or number < 0 or number > max_wait then
    error(caller .. ": expected a number of seconds from 0 to " .. max_wait .. ", not " .. tostring(seconds):sub(1, 40), 3)
  end
  return number
end
__impulse.seconds_of = seconds_of

-- vctx:tarpit(seconds): delay this session's reply (a suspension, so other sessions go on).
function VCTX:tarpit(seconds)
  seconds = seconds_of(seconds, "vctx:tarpit")
  if seconds == 0 then return end
  if not coroutine.running() then error("vctx:tarpit: only inside a callout", 2) end
  msys.sleep(seconds)
end

-- The session's recipient list, as addresses: fetched from Impulse the first time a callout
-- asks (nothing is copied for callouts that never do), read back when a script changed it.
local function recipients_of(self, caller)
  local session = self.__session
  if not session.recipients then
    local answer = pack(__impulse_fetch_recipients(self.__sid))
    if answer[1] == nil then error(caller .. ": there is no mail transaction", 3) end
    local list = {}
    for i = 2, answer.n do list[#list + 1] = answer[i] end
    session.recipients, session.recipients_changed, session.final = list, false, answer[1]
  end
  return session
end
local function address_of(value)
  if type(value) == "table" then value = value.address or value[1] end
  value = tostring(value or "")
  return (gsub(gsub(value, "^%s*<?", ""), ">?%s*$", ""))
end
-- The list is 0-based, as Momentum's manual shows it (`for i = 0, #list do … list[i]`): a
-- replacement may be 0-based too (its [0] comes first) or an ordinary 1-based table.
function VCTX:recipient_list(replacement)
  local session = recipients_of(self, "vctx:recipient_list")
  if replacement == nil then
    local copy = {}
    for i, address in ipairs(session.recipients) do copy[i - 1] = address end
    return copy
  end
  if session.final then error("vctx:recipient_list: the recipient list is final", 2) end
  local list = {}
  if type(replacement) ~= "table" then replacement = { replacement } end
  if replacement[0] ~= nil then list[1] = address_of(replacement[0]) end
  for _, value in ipairs(replacement) do list[#list + 1] = address_of(value) end
  session.recipients, session.recipients_changed = list, true
  return true
end
function VCTX:add_recipient(value)
  local session = recipients_of(self, "vctx:add_recipient")
  if session.final then error("vctx:add_recipient: the recipient list is final", 2) end
  for _, item in ipairs(type(value) == "table" and value.address == nil and value or { value }) do
    session.recipients[#session.recipients + 1] = address_of(item)
  end
  session.recipients_changed = true
  return true
end
function VCTX:remove_recipient(value)
  local session = recipients_of(self, "vctx:remove_recipient")
  if session.final then error("vctx:remove_recipient: the recipient list is final", 2) end
  local remove = {}
  for _, item in ipairs(type(value) == "table" and value.address == nil and value or { value }) do
    remove[string.lower(address_of(item))] = true
  end
  local kept = {}
  for _, address in ipairs(session.recipients) do
    if not remove[string.lower(address)] then kept[#kept + 1] = address end
  end
  session.recipients, session.recipients_changed = kept, true
  return true
end

function __impulse_take_recipients(sid)
  local session = sessions[sid]
  if not session then return nil end
  local list, changed = session.recipients, session.recipients_changed
  session.recipients, session.recipients_changed = nil, false  -- the next callout fetches afresh
  if not changed then return nil end
  return table.concat(list, "\n")
end

-- msg (the parts that exist before delivery)
local MSG = {}
MSG.__index = MSG
-- msg:context_get gives "" for a missing key (docs/lua/objects.md); vctx:get gives nil.
function MSG:context_get(scope, key) return dictionary(self, scope)[keyof(key)] or "" end
function MSG:context_set(scope, key, value)
  if value ~= nil and type(value) ~= "string" then value = tostring(value) end
  dictionary(self, scope)[keyof(key)] = value
end
function MSG:context_exists(scope, key) return dictionary(self, scope)[keyof(key)] ~= nil and 1 or 0 end
function MSG:context_exists_and_get(scope, key)
  local value = dictionary(self, scope)[keyof(key)]
  if value == nil then return 0, nil end
  return 1, value
end
function MSG:context_delete(scope, key)
  local dict = dictionary(self, scope)
  key = keyof(key)
  if dict[key] == nil then return 0 end
  dict[key] = nil
  return 1
end

-- Envelope changes a script makes reach Impulse through session.changes (taken after each callout).
local function changes(session)
  local pending = session.changes
  if not pending then pending = {}; session.changes = pending end
  return pending
end

-- msg:mailfrom([new]) / msg:rcptto([new]): the addresses without brackets; setting rewrites the
-- envelope (rcptto: the current recipient, from validate_data_spool_each_rcpt on).
function MSG:mailfrom(new)
  local session = self.__session
  if new == nil then return session.mess.mailfrom_address end
  new = address_of(new)
  session.mess.mailfrom_address = new
  changes(session).mailfrom = new
  return true
end
function MSG:rcptto(new)
  local session = self.__session
  local current = session.mess.rcptto_address
  if new == nil then return current end
  if not current then error("msg:rcptto: there is no current recipient in this phase", 2) end
  new = address_of(new)
  local pending = changes(session)
  pending.rcpt = pending.rcpt or {}
  pending.rcpt[#pending.rcpt + 1] = current .. "\n" .. new
  session.mess.rcptto_address = new
  return true
end

-- msg:get_envelope2(flags, lp, dom): the sender (EC_MSG_ENV_FROM) or current recipient
-- (EC_MSG_ENV_TO) split into ec_strings; with EC_MSG_ENV_COMPLETE, lp gets the whole address.
function MSG:get_envelope2(flags, lp, dom)
  flags = tonumber(flags) or 0
  local session = self.__session
  local address
  if bit.band(flags, 2) ~= 0 then address = session.mess.rcptto_address else address = session.mess.mailfrom_address end
  if address == nil then return false end
  local localpart, domain = string.match(address, "^(.*)@([^@]*)$")
  localpart, domain = localpart or address, domain or ""
  if bit.band(flags, 4) ~= 0 then localpart = address end
  if lp then lp:set(localpart) end
  if dom then dom:set(domain) end
  return true
end

function MSG:reception_peer(part) return __impulse.endpoint(self.__session.peer, part) end
function MSG:listener_addr(part) return __impulse.endpoint(self.__session.listener, part) end

-- msg:code([code, text]): the reply the message gets (like vctx:set_code); without arguments, the
-- code and text set so far.
function MSG:code(code, text)
  local session = self.__session
  if code == nil then return session.code, session.text end
  session.code, session.text = reply_code(code, "msg:code"), reply_text(text, "msg:code")
  -- In a delivery hook the code set is the reason the mainlog and bouncelog give.
  if session.mess and session.mess["#delivery_reply"] then
    session.mess["#delivery_code"] = tostring(session.code) .. (session.text and (" " .. session.text) or "")
  end
  return true
end
MSG.set_code = MSG.code
-- msg:get_code(): the code and text set so far; in a delivery hook (core_log_*), the delivery's
-- reply as one string ("550 5.1.1 …"), or the code and text a hook set, as one string too.
function MSG:get_code()
  local session = self.__session
  local reply = session.mess and session.mess["#delivery_reply"]
  if reply then
    if session.code then return tostring(session.code) .. (session.text and (" " .. session.text) or "") end
    return reply
  end
  return session.code, session.text
end

-- In a per-recipient callout the message is that recipient's (Momentum gives each recipient its
-- own there): its routing domain, binding and discard are kept apart from the message's, which
-- they start from.
local function own_message(session)
  return session.rcpt or session
end
local function message_value(session, key)
  local rcpt = session.rcpt
  if rcpt and rcpt[key] ~= nil then return rcpt[key] end
  return session[key]
end

-- msg:routing_domain([domain]): the domain (queue) the message is routed to.
function MSG:routing_domain(domain)
  local session = self.__session
  if domain == nil then
    return message_value(session, "routing_domain") or (session.mess.rcptto_domain ~= "" and session.mess.rcptto_domain) or nil
  end
  domain = tostring(domain)
  if domain == "" or #domain > 255 or find(domain, "[%s@]") then error("msg:routing_domain: not a domain: " .. domain, 2) end
  own_message(session).routing_domain = domain
  changes(session).routing_domain = domain
  return true
end

-- msg:binding([name]) / msg:binding_group([name]): only in validate_set_binding. Names come from
-- the configuration's binding / binding_group scopes ("default" always exists).
local function binding_phase(session, caller)
  if session.phase ~= "validate_set_binding" then error(caller .. ": only in validate_set_binding", 3) end
end
function MSG:binding(name)
  local session = self.__session
  if name == nil then return message_value(session, "binding") end
  binding_phase(session, "msg:binding")
  name = tostring(name)
  if name ~= "default" and not __impulse.bindings[name] then return nil end
  own_message(session).binding, own_message(session).binding_group = name, nil
  changes(session).binding = name
  return name
end
function MSG:binding_group(name)
  local session = self.__session
  if name == nil then return message_value(session, "binding_group") end
  binding_phase(session, "msg:binding_group")
  name = tostring(name)
  local members = __impulse.binding_groups[name]
  if name == "default" then members = members or { "default" } end
  if not members or #members == 0 then return nil end
  -- Spread messages over the group's bindings in turn.
  local turn = (__impulse.binding_turn[name] or 0) % #members + 1
  __impulse.binding_turn[name] = turn
  own_message(session).binding, own_message(session).binding_group = members[turn], name
  local pending = changes(session)
  pending.binding, pending.binding_group = members[turn], name
  return members[turn]
end

-- The message itself (once the content is complete): fetched from Impulse the first time a
-- script looks at it, so policies that never read the content never copy it.
-- The header section of the message taken apart (see message_parts): its fields' texts in order,
-- then the empty line that ends it.
local function header_section(parts)
  local texts = {}
  for i, field in ipairs(parts.fields) do texts[i] = field.text end
  texts[#texts + 1] = "\r\n"
  return table.concat(texts)
end
local function content(session)
  local raw = session.raw
  if raw == nil then
    local parts = session.parts
    if parts and session.modified then
      -- The header fields or the body changed since the text was last made: made once here.
      raw = header_section(parts) .. parts.body
      session.raw = raw
    elseif session.content_available then
      raw = __impulse_fetch_message(session.vctx.__sid, "whole") or ""
      session.raw = raw
    end
  end
  return raw
end

-- The message itself (set once the content is complete): headers and body.
local function split_message(raw)
  local cut = find(raw, "\r\n\r\n", 1, true)
  if not cut then return raw, "" end
  return string.sub(raw, 1, cut + 1), string.sub(raw, cut + 4)
end

-- Header fields as { name = "Subject", lower = "subject", text = "Subject: …\r\n" (with
-- folding) }. One pass: line ends are found by plain search, a name by a pattern anchored at its
-- line; a field's text, continuation lines included, is cut out of the block once. A line
-- without a "name:" before any white space starts a field named "".
local function header_fields(block)
  local fields, count, position, length = {}, 0, 1, #block
  local starts, stops = {}, {}
  while position <= length do
    local stop = find(block, "\n", position, true) or length
    local first = string.byte(block, position)
    if (first == 32 or first == 9) and count > 0 then
      stops[count] = stop
    else
      count = count + 1
      -- Anchored at the line's start: the search goes through the name only, never further.
      local _, colon = find(block, "^[^:%s]+:", position)
      local name = colon and string.sub(block, position, colon - 1) or ""
      fields[count] = { name = name, lower = string.lower(name) }
      starts[count], stops[count] = position, stop
    end
    position = stop + 1
  end
  for i = 1, count do fields[i].text = string.sub(block, starts[i], stops[i]) end
  return fields
end

-- The message taken apart once: its header fields (in order, and by lower-cased name) and its
-- body. msg:header and msg:body work on these; the text is made again only when something asks
-- for all of it (content) after a change.
local function index_fields(fields)
  local index = {}
  for _, field in ipairs(fields) do
    local same = index[field.lower]
    if same then same[#same + 1] = field else index[field.lower] = { field } end
  end
  return index
end
local function message_parts(session)
  local parts = session.parts
  if parts == nil then
    local block, body
    local received = false
    if session.raw == nil and session.content_available then
      -- Header section and body come from Impulse apart: the body is copied once.
      block, body = __impulse_fetch_message(session.vctx.__sid)
      if not block then block, body = "", "" end
      received = true
    else
      local raw = content(session)
      if not raw then return nil end
      block, body = split_message(raw)
    end
    local fields = header_fields(block)
    -- `received`: the body is still the one Impulse has, so a change to the header alone is
    -- handed back as the new header section (the body is not copied back).
    parts = { fields = fields, index = index_fields(fields), body = body, received = received }
    session.parts = parts
  end
  return parts
end
-- The parts changed: the text is stale until content makes it again.
local function parts_changed(session)
  session.raw, session.modified = nil, true
end
-- The whole text was replaced: the parts are stale.
local function set_content(session, raw)
  session.raw, session.parts, session.modified = raw, nil, true
end

-- A header field a script writes: the name printable ASCII without a colon (RFC 5322 §3.6.8);
-- the value without NUL, every line end in it (CRLF, lone CR or LF, also ones that came from
-- decoding an encoded word) folded as CRLF and a tab, so a value never starts a new field or
-- ends the header section.
local function field_name(name, caller)
  name = tostring(name)
  if not find(name, "^[!-9;-~]+$") or #name > 998 then
    error(caller .. ": not a header field name: " .. string.format("%q", string.sub(name, 1, 40)), 3)
  end
  return name
end
local function folded_value(value, caller)
  value = tostring(value)
  if find(value, "%z") then error(caller .. ": a header field cannot contain NUL", 3) end
  value = gsub(gsub(value, "\r\n", "\n"), "\r", "\n")
  value = gsub(gsub(value, "\n+", "\n"), "\n$", "")
  return (gsub(value, "\n[ \t]*", "\r\n\t"))
end

-- RFC 2047 encoded words (=?charset?B|Q?text?=) in UTF-8, US-ASCII or ISO-8859-1 become UTF-8;
-- other charsets are left encoded.
local b64 = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do b64[string.byte(alphabet, i)] = i - 1 end
end
local function base64_decode(text)
  local out, bits, count = {}, 0, 0
  for i = 1, #text do
    local value = b64[string.byte(text, i)]
    if value then
      bits = bits * 64 + value
      count = count + 6
      if count >= 8 then
        count = count - 8
        local byte = math.floor(bits / 2 ^ count)
        out[#out + 1] = string.char(byte)
        bits = bits - byte * 2 ^ count
      end
    end
  end
  return table.concat(out)
end
local function latin1_to_utf8(text)
  return (gsub(text, "[\128-\255]", function(c)
    local b = string.byte(c)
    return string.char(192 + math.floor(b / 64), 128 + b % 64)
  end))
end
local function decode_words(value)
  local decoded = gsub(value, "=%?([^?]+)%?([BbQq])%?([^?]*)%?=", function(charset, encoding, text)
    charset = string.lower(gsub(charset, "%*.*$", ""))
    if charset ~= "utf-8" and charset ~= "us-ascii" and charset ~= "iso-8859-1" then return nil end
    local raw
    if encoding == "B" or encoding == "b" then
      raw = base64_decode(text)
    else
      raw = gsub(gsub(text, "_", " "), "=(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end)
    end
    if charset == "iso-8859-1" then raw = latin1_to_utf8(raw) end
    return raw
  end)
  -- White space between two encoded words is not part of the text (RFC 2047 §6.2).
  return decoded
end

local function field_value(text)
  local value = string.match(text, "^[^:]*:(.*)$") or ""
  value = gsub(value, "\r?\n[ \t]+", " ")
  value = gsub(value, "\r?\n$", "")
  value = gsub(value, "(%?=)%s+(=%?)", "%1%2")
  return decode_words((gsub(value, "^%s+", "")))
end

function MSG:header(name, value, mode)
  local session = self.__session
  local parts = message_parts(session)
  if not parts then error("msg:header: the message content is not available in this phase", 2) end
  name = field_name(name, "msg:header")
  local lower = string.lower(name)
  if value == nil then
    local values = {}
    for i, field in ipairs(parts.index[lower] or {}) do values[i] = field_value(field.text) end
    return values
  end
  local additions = {}
  for _, v in ipairs(type(value) == "table" and value or { value }) do
    local text = folded_value(v, "msg:header")
    if text ~= "" then
      additions[#additions + 1] = { name = name, lower = lower, text = name .. ": " .. text .. "\r\n" }
    end
  end
  mode = mode or "replace"
  local fields = parts.fields
  if mode == "replace" and parts.index[lower] then
    local kept = {}
    for _, field in ipairs(fields) do
      if field.lower ~= lower then kept[#kept + 1] = field end
    end
    fields = kept
  end
  if mode == "prepend" then
    local result = {}
    for _, field in ipairs(additions) do result[#result + 1] = field end
    for _, field in ipairs(fields) do result[#result + 1] = field end
    parts.fields, parts.index = result, index_fields(result)
  elseif fields ~= parts.fields then  -- replaced: the kept fields and the new ones
    for _, field in ipairs(additions) do fields[#fields + 1] = field end
    parts.fields, parts.index = fields, index_fields(fields)
  else  -- appended (or replacing a field the message does not have): the index grows in place
    local same = parts.index[lower]
    if not same and #additions > 0 then
      same = {}
      parts.index[lower] = same
    end
    for _, field in ipairs(additions) do
      fields[#fields + 1] = field
      same[#same + 1] = field
    end
  end
  parts_changed(session)
  return true
end

function MSG:body(new)
  local session = self.__session
  local parts = message_parts(session)
  if not parts then error("msg:body: the message content is not available in this phase", 2) end
  if new == nil then return parts.body end
  parts.body, parts.received = tostring(new), false
  parts_changed(session)
  return true
end

function MSG:raw()
  local session = self.__session
  local raw = content(session)
  return raw, raw and #raw or 0
end

function MSG:get_message_size()
  local session = self.__session
  if session.modified then return #content(session) end
  if session.raw then return #session.raw end
  return session.content_size or 0
end

function __impulse_set_message(sid, size, id)
  local session = sessions[sid]
  if session then
    session.raw, session.parts, session.modified, session.content_available, session.content_size =
      nil, nil, false, true, size
    session.msg.id = id
  end
end

function __impulse_take_message(sid)
  local session = sessions[sid]
  if not session then return nil end
  local parts = session.modified and session.parts
  local kind, text
  if parts and parts.received then
    -- Only header fields changed: the new header section, with the empty line after it.
    kind, text = "header", header_section(parts)
  elseif session.modified then
    kind, text = "whole", content(session)
  end
  session.raw, session.parts, session.modified, session.content_available = nil, nil, false, false
  return kind, text
end

-- msg:discard([reason]): the client is told the message was accepted, and it is dropped
-- (logged with the reason) instead of being spooled.
function MSG:discard(reason)
  local session = self.__session
  local target = own_message(session)
  target.discard = reason and tostring(reason) or "discarded by policy"
  changes(session).discard = target.discard
  return true
end

function msys.expandMacro(text)
  local sid = current_session_id()
  local session = sid and sessions[sid]
  if not session then return text end
  return (gsub(text, "%%{(vctx_%a+):([%w_#%-]+)}", function(scope, key)
    local dict = scope == "vctx_mess" and session.mess or session.conn
    return dict[key] or ""
  end))
end

-- Suspending functions: callouts, timer callbacks and delivery hooks run in coroutines that
-- Impulse resumes once what they wait for has ended (its effect executor does the waiting).
function msys.asyncOk() return coroutine.running() ~= nil end
function msys.sleep(seconds)
  seconds = seconds_of(seconds, "msys.sleep")
  if not coroutine.running() then error("msys.sleep: cannot suspend here (only in a callout, a timer or a delivery hook)", 2) end
  __impulse_suspend("sleep", seconds)
end

local dns_types = { A = true, AAAA = true, MX = true, TXT = true, PTR = true, NS = true }
-- A name a resolver can ask for: printable ASCII labels of 1–63 octets, 253 in all (RFC 1035
-- §2.3.4; an internationalised name goes through msys.idn first). Anything else is refused at
-- once instead of costing a resolver time-out.
local function dns_name(name)
  local bare = gsub(name, "%.$", "")
  if #bare == 0 or #bare > 253 or find(bare, "[^%w%-_.*/]") or find(bare, "..", 1, true) or find(bare, "^%.") then return false end
  for label in string.gmatch(bare, "[^.]+") do
    if #label > 63 then return false end
  end
  return true
end
-- msys.dnsLookup(name[, type="A"][, { priority = bool }]): table of strings ({ pref, value }
-- pairs for MX with priority), or nil and an error such as "NXDOMAIN". Suspends the callout.
function msys.dnsLookup(name, qtype, options)
  if type(name) ~= "string" then error("msys.dnsLookup: the name must be a string", 2) end
  if not dns_name(name) then error("msys.dnsLookup: not a domain name (ASCII labels of 1 to 63 octets, 253 in all)", 2) end
  qtype = string.upper(qtype or "A")
  if not dns_types[qtype] then error("msys.dnsLookup: unsupported record type '" .. qtype .. "'", 2) end
  if not coroutine.running() then error("msys.dnsLookup: cannot suspend here (only in a callout, a timer or a delivery hook)", 2) end
  local answer = pack(__impulse_suspend("dns", name, qtype))
  if answer[1] ~= "ok" then return nil, answer[2] end
  local priority = type(options) == "table" and options.priority
  local results = {}
  for i = 2, answer.n do
    local value = answer[i]
    if qtype == "MX" then
      local pref, host = string.match(value, "^(%d+) (.*)$")
      if priority then results[#results + 1] = { pref = tonumber(pref), value = host } else results[#results + 1] = host end
    else
      results[#results + 1] = value
    end
  end
  return results
end

-- msys.readfile(path or file:// URI): the whole file, or nil and the reason. Suspends the callout
-- (the read happens on the I/O thread pool); outside a callout it cannot wait and raises.
function msys.readfile(path)
  if type(path) ~= "string" then error("msys.readfile: the path must be a string", 2) end
  if not coroutine.running() then error("msys.readfile: cannot suspend here (only in a callout, a timer or a delivery hook)", 2) end
  local answer = pack(__impulse_suspend("readfile", (gsub(path, "^file://", ""))))
  if answer[1] ~= "ok" then return nil, answer[2] end
  return answer[2]
end

-- msys.pcre (PCRE2): match → captures table ([0] the whole match, 1…, and named groups) or nil
-- (no match) or nil, message, code (bad pattern); replace → string ($0…$9 and ${name} in repl,
-- every match); split → table of the pieces between matches.
msys.pcre = {}
function msys.pcre.match(subject, pattern)
  local r = pack(__impulse_pcre_match(tostring(subject), tostring(pattern)))
  if r[1] == nil then return nil, r[2], r[3] end
  if r[1] == false then return nil end
  local count, captures = r[1], {}
  for i = 0, count - 1 do captures[i] = r[2 + i] end
  for j = 2 + count, r.n - 1, 2 do captures[r[j]] = captures[r[j + 1]] end
  return captures
end
function msys.pcre.replace(subject, pattern, replacement)
  local r = pack(__impulse_pcre_replace(tostring(subject), tostring(pattern), tostring(replacement)))
  if r[1] == nil then return nil, r[2], r[3] end
  return r[1]
end
function msys.pcre.split(subject, pattern)
  local r = pack(__impulse_pcre_split(tostring(subject), tostring(pattern)))
  if r[1] == nil then return nil, r[2], r[3] end
  local pieces = {}
  for i = 2, r.n do pieces[#pieces + 1] = r[i] end
  return pieces
end
package.preload["msys.pcre"] = function() return msys.pcre end
supported["msys.pcre"] = true

-- msys.validate.opendkim (Momentum's opendkim module, docs/dkim.md): signing and verifying
-- off the event loop (verification by libopendkim). Constants as opendkim.dkim names them.
local DKIM_CONSTANTS = {
  DKIM_STAT_OK = 0, DKIM_STAT_BADSIG = 1, DKIM_STAT_NOSIG = 2, DKIM_STAT_NOKEY = 3, DKIM_STAT_CANTVRFY = 4,
  DKIM_STAT_SYNTAX = 5, DKIM_STAT_NORESOURCE = 6, DKIM_STAT_INTERNAL = 7, DKIM_STAT_REVOKED = 8,
  DKIM_STAT_INVALID = 9, DKIM_STAT_NOTIMPLEMENT = 10, DKIM_STAT_KEYFAIL = 11, DKIM_STAT_CBREJECT = 12,
  DKIM_STAT_CBINVALID = 13, DKIM_STAT_CBTRYAGAIN = 14, DKIM_STAT_CBERROR = 15,
  DKIM_SIGFLAG_IGNORE = 1, DKIM_SIGFLAG_PROCESSED = 2, DKIM_SIGFLAG_PASSED = 4, DKIM_SIGFLAG_TESTKEY = 8,
  DKIM_SIGFLAG_NOSUBDOMAIN = 16, DKIM_SIGFLAG_KEYLOADED = 32,
  DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED = 1,
  DKIM_SIGN_RSASHA1 = 0, DKIM_SIGN_RSASHA256 = 1, DKIM_SIGN_ED25519SHA256 = 2,
  DKIM_SIGBH_UNTESTED = -1, DKIM_SIGBH_MATCH = 0, DKIM_SIGBH_MISMATCH = 1,
}
local opendkim = {}
for name, value in pairs(DKIM_CONSTANTS) do opendkim[name] = value end
msys.validate = msys.validate or {}
msys.validate.opendkim = opendkim
local DKIM_HANDLE, DKIM_SIGINFO = { __index = {} }, { __index = {} }
local signing_algorithms = { ["rsa-sha1"] = 0, ["rsa-sha256"] = 1, ["ed25519-sha256"] = 2 }

local function message_for(msg, caller)
  if type(msg) ~= "table" or getmetatable(msg) ~= MSG then error(caller .. ": the first argument must be a message", 3) end
  if not coroutine.running() then error(caller .. ": cannot suspend here (only in a callout, a timer or a delivery hook)", 3) end
  local raw = content(msg.__session)
  if not raw then error(caller .. ": the message content is not available in this phase", 3) end
  return raw
end

-- A sign function's options as flat name, value strings for Impulse; `lists` names the options
-- that may also be tables, with the separator their items are joined with.
local function flat_options(options, lists)
  local flat = {}
  for name, value in pairs(type(options) == "table" and options or {}) do
    if type(name) == "string" and (type(value) == "string" or type(value) == "number" or type(value) == "boolean") then
      flat[#flat + 1] = name; flat[#flat + 1] = tostring(value)
    elseif lists[name] and type(value) == "table" then
      flat[#flat + 1] = name; flat[#flat + 1] = table.concat(value, lists[name])
    end
  end
  return flat
end

-- Puts the header fields in `block` (whole fields, CRLF after each) first in the message.
local function prepend_fields(session, block)
  local parts = message_parts(session)
  local fields = header_fields(block)
  for _, existing in ipairs(parts.fields) do fields[#fields + 1] = existing end
  parts.fields, parts.index = fields, index_fields(fields)
  parts_changed(session)
end

-- msys.validate.opendkim.sign(msg, vctx, options): signs the message as it stands and puts the
-- DKIM-Signature field first; returns DKIM_STAT_OK. A key that cannot be read or used (or any
-- other reason it cannot sign) raises an error at the caller's line.
function opendkim.sign(msg, vctx, options)
  local raw = message_for(msg, "msys.validate.opendkim.sign")
  local flat = flat_options(options, { headerlist = "," })
  local answer = pack(__impulse_suspend("dkim_sign", raw, unpack(flat)))
  if answer[1] ~= "ok" then error("msys.validate.opendkim.sign: " .. tostring(answer[2]), 2) end
  prepend_fields(msg.__session, answer[2])
  return DKIM_CONSTANTS.DKIM_STAT_OK
end

-- msys.validate.opendkim.verify(msg): a DKIM handle and the overall DKIM_STAT.
function opendkim.verify(msg)
  local raw = message_for(msg, "msys.validate.opendkim.verify")
  local answer = pack(__impulse_suspend("dkim_verify", raw))
  if answer[1] ~= "ok" then
    return setmetatable({ status = DKIM_CONSTANTS.DKIM_STAT_INTERNAL, error = answer[2], sigs = {} }, DKIM_HANDLE),
           DKIM_CONSTANTS.DKIM_STAT_INTERNAL
  end
  local handle = setmetatable({ status = answer[2], status_text = answer[3], sigs = {} }, DKIM_HANDLE)
  for i = 4, answer.n, 12 do
    local headers = {}
    for name in string.gmatch(answer[i + 11] or "", "[^:]+") do headers[#headers + 1] = string.lower(name) end
    handle.sigs[#handle.sigs + 1] = setmetatable({
      domain = answer[i], selector = answer[i + 1], identity = answer[i + 2], algorithm = answer[i + 3],
      header_canon = answer[i + 4], body_canon = answer[i + 5], flags = answer[i + 6], error = answer[i + 7],
      errorstr = answer[i + 8], keysize = answer[i + 9], result = answer[i + 10], headers = headers,
    }, DKIM_SIGINFO)
  end
  return handle, handle.status
end

local function handle_of(dkim, caller)
  if getmetatable(dkim) ~= DKIM_HANDLE then error(caller .. ": expected the handle msys.validate.opendkim.verify returned", 3) end
  return dkim
end
local function sig_of(sig, caller)
  if getmetatable(sig) ~= DKIM_SIGINFO then error(caller .. ": expected a signature from msys.validate.opendkim.get_sig", 3) end
  return sig
end
function opendkim.get_num_sigs(dkim)
  local handle = handle_of(dkim, "msys.validate.opendkim.get_num_sigs")
  if #handle.sigs == 0 and handle.status ~= DKIM_CONSTANTS.DKIM_STAT_OK then return 0, handle.status end
  return #handle.sigs, DKIM_CONSTANTS.DKIM_STAT_OK
end
function opendkim.get_sig(dkim, num)
  local handle = handle_of(dkim, "msys.validate.opendkim.get_sig")
  local sig = handle.sigs[(tonumber(num) or 0) + 1]
  if not sig then return nil, DKIM_CONSTANTS.DKIM_STAT_INVALID end
  return sig, DKIM_CONSTANTS.DKIM_STAT_OK
end
function opendkim.get_sig_domain(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_domain").domain end
function opendkim.get_sig_selector(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_selector").selector end
function opendkim.get_sig_identity(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_identity").identity end
function opendkim.get_sig_keysize(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_keysize").keysize end
function opendkim.get_sig_flags(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_flags").flags end
function opendkim.get_sig_errorstr(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_errorstr").errorstr end
function opendkim.get_sig_signalg(sig)
  sig = sig_of(sig, "msys.validate.opendkim.get_sig_signalg")
  return signing_algorithms[sig.algorithm] or -2, DKIM_CONSTANTS.DKIM_STAT_OK
end
function opendkim.get_sig_canons(sig)
  sig = sig_of(sig, "msys.validate.opendkim.get_sig_canons")
  return sig.header_canon, sig.body_canon, DKIM_CONSTANTS.DKIM_STAT_OK
end
function opendkim.get_sig_hdrsigned(sig, name)
  sig = sig_of(sig, "msys.validate.opendkim.get_sig_hdrsigned")
  name = string.lower(tostring(name))
  for _, signed in ipairs(sig.headers) do if signed == name then return true end end
  return false
end
-- Impulse's addition: the RFC 8601 result of one signature (pass, fail, neutral, temperror,
-- permerror), as an Authentication-Results field reports it.
function opendkim.get_sig_result(sig) return sig_of(sig, "msys.validate.opendkim.get_sig_result").result end
package.preload["msys.validate.opendkim"] = function() return opendkim end
package.preload["opendkim.dkim"] = function() return opendkim end
supported["msys.validate.opendkim"] = true

-- msys.validate.openarc (ARC, RFC 8617; docs/sender-authentication.md): validating a message's chain and
-- sealing it, off the event loop, keys looked up through Impulse's resolver.
local openarc = {}
msys.validate.openarc = openarc

-- msys.validate.openarc.verify(msg): the chain validation status ("none", "pass" or "fail"), the
-- number of ARC sets and, for "fail", why; the status also goes into the message context as
-- arc_status.
function openarc.verify(msg)
  local raw = message_for(msg, "msys.validate.openarc.verify")
  local answer = pack(__impulse_suspend("arc_verify", raw))
  if answer[1] ~= "ok" then return "fail", 0, tostring(answer[2]) end
  msg.__session.mess.arc_status = answer[2]
  return answer[2], answer[3], answer[4]
end

-- What the ARC-Authentication-Results field records when the script names nothing (option ar):
-- the results Impulse found for this message, from the message context.
local function context_results(session)
  local mess, results = session.mess, {}
  if mess.spf_status then results[#results + 1] = "spf=" .. mess.spf_status .. " smtp.mailfrom=" .. (mess.mailfrom_address or "") end
  if mess.dkim_status then results[#results + 1] = "dkim=" .. mess.dkim_status end
  if mess.dmarc_status then
    results[#results + 1] = "dmarc=" .. mess.dmarc_status .. (mess.dmarc_domain and (" header.from=" .. mess.dmarc_domain) or "")
  end
  return table.concat(results, "\n")
end

-- msys.validate.openarc.sign(msg, vctx, options): adds an ARC set (ARC-Seal,
-- ARC-Message-Signature, ARC-Authentication-Results) on top of the message as it stands, after
-- validating the chain it has; returns true and the chain status it sealed with, or false and
-- why the chain must not be extended (its newest seal says cv=fail, or it has 50 sets). Options
-- as msys.validate.opendkim.sign names them (base_domain, selector, keyfile/key/keybuf,
-- headerlist), plus authservid and ar (the results to record). A key that cannot sign raises an
-- error at the caller's line. `vctx` may be left out.
function openarc.sign(msg, vctx, options)
  if options == nil and type(vctx) == "table" and getmetatable(vctx) ~= VCTX then options = vctx end
  local raw = message_for(msg, "msys.validate.openarc.sign")
  local session = msg.__session
  options = type(options) == "table" and options or {}
  local flat = flat_options(options, { headerlist = ",", ar = "\n" })
  if options.ar == nil then
    local results = context_results(session)
    if results ~= "" then flat[#flat + 1] = "ar"; flat[#flat + 1] = results end
  end
  local answer = pack(__impulse_suspend("arc_sign", raw, unpack(flat)))
  if answer[1] ~= "ok" then error("msys.validate.openarc.sign: " .. tostring(answer[2]), 2) end
  if answer[3] == "" then return false, answer[4] end
  prepend_fields(session, answer[3])
  return true, answer[2]
end
package.preload["msys.validate.openarc"] = function() return openarc end
supported["msys.validate.openarc"] = true

__impulse.sessions, __impulse.ec_string, __impulse.current_session = sessions, ec_string, current_session_id
__impulse.content, __impulse.modules = content, modules
__impulse.split_message, __impulse.header_fields, __impulse.field_value = split_message, header_fields, field_value
__impulse.message_parts, __impulse.set_content = message_parts, set_content
__impulse.field_name, __impulse.folded_value = field_name, folded_value
__impulse.base64_decode, __impulse.supported, __impulse.MSG, __impulse.address_of = base64_decode, supported, MSG, address_of
__impulse.ECSTRING = ECSTRING

function __impulse_loading(script) loading_script = script end
function __impulse_warnings() local list = warnings; warnings = {}; return table.concat(list, "\n") end

function __impulse_implements(callout)
  for _, module in ipairs(modules) do
    if type(module.tbl[callout]) == "function" then return true end
  end
  return false
end

-- The module whose callout a session is running (for errors Impulse detects itself).
function __impulse_running_module(sid)
  local session = sessions[sid]
  local module = session and session.module
  if module then return module.name, module.script end
end

-- The session table, for Impulse to write context keys into directly.
function __impulse_sessions() return sessions end

-- accept: the connection (docs/lua/objects.md).
local ACCEPT = {}
ACCEPT.__index = ACCEPT
local SOCKADDR = {}
SOCKADDR.__index = SOCKADDR
-- Momentum's form: "ip:port" for IPv4, "ip.port" for IPv6 (a colon would be ambiguous there).
SOCKADDR.__tostring = function(self)
  if find(self.ip, ":", 1, true) then return self.ip .. "." .. self.port end
  return self.ip .. ":" .. self.port
end
SOCKADDR.__eq = function(a, b) return tostring(a) == tostring(b) end
local function sockaddr(ip, port)
  return setmetatable({ ip = ip, port = port, family = find(ip, ":", 1, true) and 10 or 2 }, SOCKADDR)
end
__impulse.SOCKADDR, __impulse.sockaddr = SOCKADDR, sockaddr

-- ac:esmtp_capability_add(name) / ac:esmtp_capability_remove(name): change what EHLO offers
-- (in validate_connect, or validate_ehlo before the reply is built).
function ACCEPT:esmtp_capability_add(name)
  local pending = changes(self.__session)
  pending.capabilities = pending.capabilities or {}
  pending.capabilities[#pending.capabilities + 1] = "+" .. tostring(name)
  return true
end
function ACCEPT:esmtp_capability_remove(name)
  local pending = changes(self.__session)
  pending.capabilities = pending.capabilities or {}
  pending.capabilities[#pending.capabilities + 1] = "-" .. tostring(name)
  return true
end

-- ac:inbound_session_count([cidr][, service]): open SMTP sessions from the client's network:
-- "/24" widens the client's address, "addr/mask" or "addr" names another; other services count 0.
function ACCEPT:inbound_session_count(cidr, service)
  if service ~= nil and string.upper(tostring(service)) ~= "SMTP" then return 0 end
  local ip = self.__session.peer.ip
  cidr = cidr and tostring(cidr) or ""
  local block
  if cidr == "" then block = ip
  elseif string.sub(cidr, 1, 1) == "/" then block = ip .. cidr
  else block = cidr end
  return __impulse_session_count(block)
end

function __impulse_open(sid, peer_ip, peer_port, listener_ip, listener_port)
  -- Tables made at their final size: growing a table key by key rehashes it each time it fills.
  local session = new_table(0, 32)
  session.conn, session.mess, session.selves, session.used = new_table(0, 16), new_table(0, 16), {}, {}
  session.peer = sockaddr(peer_ip or "0.0.0.0", peer_port or 0)
  session.listener = sockaddr(listener_ip or "0.0.0.0", listener_port or 0)
  session.vctx = setmetatable({ __sid = sid, __session = session }, VCTX)
  session.msg = setmetatable({ __sid = sid, __session = session, conn_id = tostring(sid), priority = 0,
                               recv_method = 2, recv_from = session.peer, recv_via = session.listener }, MSG)
  session.accept = setmetatable({ __sid = sid, __session = session, remote_addr = session.peer, local_addr = session.listener,
                                  protocol = 2, conn_id = tostring(sid) }, ACCEPT)
  sessions[sid] = session
end

-- What scripts changed in the envelope since the last call (nil when nothing), as flat
-- key/value strings: mailfrom, rcpt ("old\nnew" each), routing_domain, binding, binding_group,
-- discard, capabilities ("+NAME" / "-NAME" each), priority.
function __impulse_take_changes(sid)
  local session = sessions[sid]
  local pending = session and session.changes
  if not pending then return nil end
  session.changes = nil
  local out = {}
  for _, key in ipairs({ "mailfrom", "routing_domain", "binding", "binding_group", "discard" }) do
    if pending[key] then out[#out + 1] = key; out[#out + 1] = pending[key] end
  end
  for _, item in ipairs(pending.rcpt or {}) do out[#out + 1] = "rcpt"; out[#out + 1] = item end
  for _, item in ipairs(pending.capabilities or {}) do out[#out + 1] = "capability"; out[#out + 1] = item end
  if pending.priority then out[#out + 1] = "priority"; out[#out + 1] = tostring(pending.priority) end
  return unpack(out)
end

function __impulse_set(sid, scope, key, value)
  local session = sessions[sid]
  if session then (scope == MESS and session.mess or session.conn)[key] = value end
end

function __impulse_get(sid, scope, key)
  local session = sessions[sid]
  return session and (scope == MESS and session.mess or session.conn)[key]
end

-- Every string-valued context key of a session, as (scope, key, value) triples, scope "c" or "m",
-- at most 1000 keys (what `impulse policy test` prints as context changes).
function __impulse_context_dump(sid)
  local session = sessions[sid]
  if not session then return end
  local out, n = {}, 0
  for scope, dict in pairs({ c = session.conn, m = session.mess }) do
    for key, value in pairs(dict) do
      if n >= 3000 then break end
      if type(key) == "string" and (type(value) == "string" or type(value) == "number") then
        out[n + 1], out[n + 2], out[n + 3] = scope, key, tostring(value)
        n = n + 3
      end
    end
  end
  return unpack(out, 1, n)
end

function __impulse_new_message(sid)
  local session = sessions[sid]
  if session then
    session.mess = new_table(0, 16); session.discard = nil; session.raw = nil; session.parts = nil; session.modified = false; session.content_available = false
    session.routing_domain = nil; session.binding = nil; session.binding_group = nil
    session.msg.id = nil; session.msg.priority = 0
    session.recipients = nil; session.recipients_changed = false; session.final = false
    session.per_rcpt = nil; session.rcpt = nil
  end
end

-- The module's per-session self (created on first use); marks the module as used by the session,
-- so its validate_dealloc runs at the end.
local function module_self(session, index, module)
  local self = session.selves[index]
  if not self then
    self = setmetatable({}, { __index = module.tbl })
    session.selves[index] = self
  end
  session.used[index] = true
  return self
end

-- Each callout's arguments after self (docs/lua/README.md).
local argument_makers = {
  validate_connect = function(session) return session.accept, session.vctx end,
  validate_ehlo = function(session, text) return ec_string(text), session.accept, session.vctx end,
  validate_mailfrom = function(session, text) return ec_string(text), session.accept, session.vctx end,
  validate_rcptto = function(session, text) return session.msg, ec_string(text), session.accept, session.vctx end,
  validate_set_binding = function(session) return session.msg end,
  validate_rcptto_list = function(session) return {}, session.vctx end,
  validate_rcptto_list_final = function(session) return {}, session.vctx end,
}
local function message_arguments(session) return session.msg, session.accept, session.vctx end

-- What one module's callout returned: nil to go on, true to stop the phase (VALIDATE_DONE), or
-- an error description. xpcall passes the arguments (a LuaJIT extension), so no closure is made.
local function checked(module, callout, ok, ...)
  if not ok then return { module.name, module.script, tostring((...)) } end
  local count = select("#", ...)
  if count ~= 1 then
    return { module.name, module.script, format("%s:%s expected a single return value, got %d", module.name, callout, count) }
  end
  local value = ...
  if value == 1 then return true end
  if value ~= 0 and value ~= 2 then
    return { module.name, module.script,
             format("%s:%s must return one of msys.VALIDATE_CONT msys.VALIDATE_DONE or msys.VALIDATE_AGAIN", module.name, callout) }
  end
  return nil
end

-- A phase starts: no code yet, and the recipient list is fetched afresh by the first callout that
-- asks (Impulse has taken any change the previous callout made).
local per_recipient = { validate_data_spool_each_rcpt = true, validate_set_binding = true,
                        core_pre_msg_each_rcpt = true, core_post_msg_each_rcpt = true }
local function begin_phase(session, sid, callout, text)
  session.code, session.text, session.disconnect = nil, nil, false
  session.recipients, session.recipients_changed = nil, false
  -- A per-recipient callout names its recipient by index (as its text): that recipient's message.
  local rcpt = nil
  if per_recipient[callout] and text then
    local all = session.per_rcpt
    if not all then all = {}; session.per_rcpt = all end
    rcpt = all[text]
    if not rcpt then rcpt = {}; all[text] = rcpt end
  end
  session.rcpt = rcpt
  set_current(sid)
end

-- Runs one callout across every module, in registration order.
-- Returns "ok", code, text, disconnect, discard, recipients-changed   or   "error", module, script, message.
-- Per-module timing of callouts (metrics): off until Impulse hands over a recorder.
local monotonic = __impulse_monotonic
local module_time = nil
function __impulse_enable_module_timing()
  module_time = __impulse_module_time
  __impulse_module_time = nil
end

local function run_callout(sid, callout, text)
  local session = sessions[sid]
  if not session then return "error", "?", "?", "no such session" end
  begin_phase(session, sid, callout, text)
  local make = argument_makers[callout] or message_arguments
  session.phase = callout
  for index, module in ipairs(modules) do
    local method = module.tbl[callout]
    if type(method) == "function" then
      local self = module_self(session, index, module)
      session.module = module
      local started = module_time and monotonic()
      local result = checked(module, callout, xpcall(method, traceback, self, make(session, text)))
      if started then module_time(module.name, callout, monotonic() - started) end
      if result == true then break end
      if result then
        set_current(nil)
        return "error", result[1], result[2], result[3]
      end
    end
  end
  set_current(nil)
  if session.msg.priority ~= 0 and session.phase == "validate_set_binding" then changes(session).priority = session.msg.priority end
  session.phase, session.rcpt = nil, nil
  return "ok", session.code, session.text, session.disconnect, session.discard, session.recipients_changed, session.changes ~= nil
end

-- Hook points: every module that defines the hook, in registration order. Hooks with a session
-- get the module's per-session self; the others the module table.
local hook_arguments = {
  core_validate_accept = function(session) return session.accept, session.vctx end,
  core_final_validation2 = function(session) return session.msg, session.accept, session.vctx end,
  core_final_validation = function(session) return session.msg, session.accept, session.vctx end,
  core_post_final_validation = function(session) return session.msg, session.accept, session.vctx end,
  msg_gen_data_spool = function(session) return session.msg, session.accept, session.vctx end,
  core_pre_msg_each_rcpt = function(session) return session.msg, session.accept end,
  core_post_msg_each_rcpt = function(session) return session.msg, session.accept, session.vctx end,
}

function __impulse_hook_implemented(name)
  for _, module in ipairs(modules) do
    if type(module.tbl[name]) == "function" then return true end
  end
  return false
end

-- Calls every module's `name` method in registration order with (self, ...): the session's self
-- for the module when there is a session, else the module table. Returns the module and the
-- message of the first error, or nothing.
local function call_modules(session, name, ...)
  for index, module in ipairs(modules) do
    local method = module.tbl[name]
    if type(method) == "function" then
      local self = module.tbl
      if session then
        self = module_self(session, index, module)
        session.module = module
      end
      local ok, message = xpcall(method, traceback, self, ...)
      if not ok then return module, message end
    end
  end
end

-- core_final_validation2 answers with EC_HOOK_CONT (0: the next module), EC_HOOK_DONE (1: no
-- later module runs) or EC_HOOK_RETRY (2: the message is refused for now, 451, unless a module
-- set a code).
local function final_validation2(session)
  for index, module in ipairs(modules) do
    local method = module.tbl.core_final_validation2
    if type(method) == "function" then
      session.module = module
      local ok, result = xpcall(method, traceback, module_self(session, index, module),
                                session.msg, session.accept, session.vctx)
      if not ok then return module, result end
      if result == 2 then
        if session.code == nil then session.code, session.text = 451, "4.3.0 try again later" end
        return
      end
      if result == 1 then return end
    end
  end
end

-- Validation-style hooks: like a callout, the outcome is the vctx code.
local function run_hook(sid, name, text)
  local session = sessions[sid]
  if not session then return "error", "?", "?", "no such session" end
  begin_phase(session, sid, name, text)
  local failed, message
  if name == "core_final_validation2" then
    failed, message = final_validation2(session)
  else
    failed, message = call_modules(session, name, hook_arguments[name](session))
  end
  set_current(nil)
  session.rcpt = nil
  if failed then return "error", failed.name, failed.script, tostring(message) end
  return "ok", session.code, session.text, session.disconnect, nil, session.recipients_changed, session.changes ~= nil
end

-- The message context scripts set in delivery hooks (msg:context_set … ECMESS_CTX_MESS) lasts from
-- one hook of a message to the next, as Momentum's keep_message_dicts_in_memory keeps it: in the
-- scheduler's state, for the 10,000 messages whose hooks ran last.
local delivery_hooks = { core_log_delivery_v1 = true, core_log_transient_failure_v1 = true,
                         core_log_permanent_failure_v1 = true, core_ec_message_enqueue = true,
                         core_pre_mailq_message_requeue = true, core_get_outbound_tls_parameters = true }
local message_dicts, message_dict_order, message_dict_first, message_dict_last = {}, {}, 1, 0
local MESSAGE_DICTS = 10000
local function restore_message_dict(session, id)
  local kept = message_dicts[id]
  if not kept then return end
  for key, value in pairs(kept) do
    if session.mess[key] == nil then session.mess[key] = value end
  end
end
local function keep_message_dict(session, id)
  local kept = {}
  for key, value in pairs(session.mess) do
    if string.sub(key, 1, 1) ~= "#" and key ~= "mailfrom_address" and key ~= "rcptto_address" and key ~= "rcptto_domain" then
      kept[key] = value
    end
  end
  if message_dicts[id] == nil then
    message_dict_last = message_dict_last + 1
    message_dict_order[message_dict_last] = id
    if message_dict_last - message_dict_first + 1 > MESSAGE_DICTS then
      message_dicts[message_dict_order[message_dict_first]] = nil
      message_dict_order[message_dict_first] = nil
      message_dict_first = message_dict_first + 1
    end
  end
  message_dicts[id] = kept
end

-- core_ec_message_enqueue answers EC_MESSAGE_ENQUEUE_HOOK_CONT (0 or nothing: the next module,
-- then Impulse queues it), _OK (1: the module took the message) or _ERR (2: it took it, failed).
local function message_enqueue(session, ...)
  for index, module in ipairs(modules) do
    local method = module.tbl.core_ec_message_enqueue
    if type(method) == "function" then
      session.module = module
      local ok, result = xpcall(method, traceback, module_self(session, index, module), ...)
      if not ok then return module, result end
      if result == 1 then return nil, nil, "taken" end
      if result == 2 then return nil, nil, "failed" end
    end
  end
end

-- Any hook by its prototype (HookRegistry): the arguments come as (kind, value) pairs — "msg",
-- "accept", "vctx" (the session's objects), "buffer" (an ec_string), "text", "number", "opaque"
-- (a table from "key=value" lines). Hooks without a session get nil for the session objects.
-- Returns "ok", the first buffer's final text   or   "error", module, script, message.
function __impulse_fire_hook(sid, name, ...)
  local session = sid and sessions[sid]
  local args, buffer = {}, nil
  local count = select("#", ...)
  for i = 1, count, 2 do
    local kind, value = select(i, ...)
    local arg
    if kind == "msg" then arg = session and session.msg
    elseif kind == "accept" then arg = session and session.accept
    elseif kind == "vctx" then arg = session and session.vctx
    elseif kind == "buffer" then arg = ec_string(value, math.max(#value, 1024)); buffer = buffer or arg
    elseif kind == "opaque" then
      arg = {}
      for key, v in string.gmatch(value or "", "([^=\n]+)=([^\n]*)") do arg[key] = v end
    else arg = value end
    args[(i + 1) / 2] = arg
  end
  local n = (count + 1) / 2
  if session then set_current(sid) end
  local dict_id = delivery_hooks[name] and session and session.msg.id
  if dict_id then restore_message_dict(session, dict_id) end
  local failed, message, taken
  if name == "core_ec_message_enqueue" then
    failed, message, taken = message_enqueue(session, unpack(args, 1, n))
  else
    failed, message = call_modules(session, name, unpack(args, 1, n))
  end
  if dict_id then keep_message_dict(session, dict_id) end
  set_current(nil)
  if failed then return "error", failed.name, failed.script, tostring(message) end
  if taken then return "ok", taken end
  if name == "core_get_outbound_tls_parameters" then
    -- The params table as the modules left it, as "key=value" lines.
    local lines = {}
    for key, value in pairs(args[2] or {}) do
      if type(key) == "string" and (type(value) == "string" or type(value) == "number") then
        lines[#lines + 1] = key .. "=" .. gsub(tostring(value), "[\r\n]", " ")
      end
    end
    return "ok", table.concat(lines, "\n")
  end
  return "ok", buffer and tostring(buffer) or nil
end

-- The body of Impulse's callout coroutines. A coroutine is reused: after each callout it yields
-- "__impulse_done" and the results, and the next resume brings the next callout's arguments.
-- (A msys function that waits yields from inside the callout instead, with its own request.)
local yield = coroutine.yield
-- `callout` is an index into __impulse_callout_names (set by Impulse): no string per call. A
-- callout that decided nothing and changed nothing yields just 0 (the common case, cheapest to
-- hand back).
local function finished(status, ...)
  if status == "ok" then
    local code, _, disconnect, discard, recipients, changed = ...
    if code == nil and not disconnect and discard == nil and not recipients and not changed then return yield(0) end
  end
  return yield("__impulse_done", status, ...)
end
function __impulse_worker(hook, sid, callout, text)
  local names = __impulse_callout_names
  while true do
    local run = hook and run_hook or run_callout
    hook, sid, callout, text = finished(run(sid, names[callout], text))
  end
end

-- core_config_get_message_routing_domain(scope, msg, buff): the last module to set buff wins.
-- Returns "ok", domain-or-nil   or   "error", module, script, message.
function __impulse_routing_domain(sid, default_domain)
  local session = sessions[sid]
  if not session then return "ok", nil end
  set_current(sid)
  local chosen = session.routing_domain
  if chosen then default_domain = chosen end
  for _, module in ipairs(modules) do
    local method = module.tbl.core_config_get_message_routing_domain
    if type(method) == "function" then
      local buff = ec_string(default_domain, 1024)
      local ok, message = xpcall(method, traceback, module.tbl, nil, session.msg, buff)
      if not ok then
        set_current(nil)
        return "error", module.name, module.script, tostring(message)
      end
      if tostring(buff) ~= default_domain then chosen = tostring(buff) end
    end
  end
  set_current(nil)
  return "ok", chosen
end

-- validate_dealloc for every module an earlier phase of this session ran, then forget the session.
function __impulse_close(sid)
  local session = sessions[sid]
  if not session then return "ok" end
  local failure
  set_current(sid)
  for index, module in ipairs(modules) do
    if session.used[index] and type(module.tbl.validate_dealloc) == "function" then
      local ok, message = xpcall(module.tbl.validate_dealloc, traceback, session.selves[index])
      if not ok and not failure then failure = { module.name, module.script, tostring(message) } end
    end
  end
  set_current(nil)
  sessions[sid] = nil
  session.closed = true
  if failure then return "error", failure[1], failure[2], failure[3] end
  return "ok"
end

-- init on the scheduler state: every module's init must return true.
function __impulse_init()
  for _, module in ipairs(modules) do
    if type(module.tbl.init) == "function" then
      local ok, result = xpcall(module.tbl.init, traceback, module.tbl)
      if not ok then return "error", module.name, module.script, tostring(result) end
      if result ~= true then return "error", module.name, module.script, "init did not return true" end
    end
  end
  return "ok"
end

function __impulse_deinit()
  for _, module in ipairs(modules) do
    if type(module.tbl.deinit) == "function" then
      local ok, result = xpcall(module.tbl.deinit, traceback, module.tbl)
      if not ok then return "error", module.name, module.script, tostring(result) end
    end
  end
  return "ok"
end
