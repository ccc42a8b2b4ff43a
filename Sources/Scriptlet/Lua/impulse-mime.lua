-- MIME parts (docs/lua/objects.md, "MIME parts"): msg:mime([readonly]) gives the message's
-- top-level part; parts have header, body (transfer-decoded), tree navigation and edits;
-- msg:makePart / makeContainer / makeBoundary build new ones, msg:text_replace edits every text
-- part. The structure comes from Impulse's bounded parser (__impulse_mime_parse: at most 500
-- parts, 20 levels; malformed MIME gives a best-effort tree, never an error); every edit writes
-- the whole message again, so the spooled message is what the tree says.
local I = __impulse
local MSG = I.MSG
local type, tostring, error, setmetatable, getmetatable, rawget, ipairs, pairs, select, unpack, pcall =
      type, tostring, error, setmetatable, getmetatable, rawget, ipairs, pairs, select, unpack, pcall
local sub, find, lower, gsub, match, format, concat, insert, remove =
      string.sub, string.find, string.lower, string.gsub, string.match, string.format, table.concat,
      table.insert, table.remove
local content, set_content, header_fields = I.content, I.set_content, I.header_fields
local field_value, field_name, folded_value = I.field_value, I.field_name, I.folded_value
local b64encode, b64decode, qpencode, qpdecode = msys.base64.encode, msys.base64.decode, msys.qp.encode, msys.qp.decode
local parse_addresses = msys.parseRFC2822Addresses
local function pack(...) return { n = select("#", ...), ... } end

msys.core.EC_MIME_TE_7BIT, msys.core.EC_MIME_TE_8BIT = "7bit", "8bit"
msys.core.EC_MIME_TE_BASE64, msys.core.EC_MIME_TE_QUOTED_PRINTABLE = "base64", "quoted-printable"

local PART, METHODS = {}, {}
PART.__tostring = function(self) return "msgpart " .. self:content_type() end
PART.__index = function(self, key)
  local method = METHODS[key]
  if method then return method end
  if key == "parent" then return rawget(self, "_parent") end
  if key == "child" then
    local children = rawget(self, "_children")
    return children and children[1]
  end
  if key == "next" or key == "prev" then
    local parent = rawget(self, "_parent")
    if not parent then return nil end
    for i, child in ipairs(parent._children) do
      if child == self then return parent._children[key == "next" and i + 1 or i - 1] end
    end
  end
  return nil
end

local function part_of(self, caller)
  if getmetatable(self) ~= PART then error(caller .. ": not a MIME part", 3) end
  return self
end
local function writable(self, caller)
  part_of(self, caller)
  if self._readonly then error(caller .. ": the MIME part is read-only (msg:mime(true))", 3) end
  return self
end

-- A header block without its final empty line, and that line.
local function split_header(block)
  if sub(block, -4) == "\r\n\r\n" then return sub(block, 1, -3), "\r\n" end
  if sub(block, -2) == "\n\n" then return sub(block, 1, -2), "\n" end
  if sub(block, -2) == "\r\n" and #block == 2 then return "", "\r\n" end
  return block, ""
end

local function new_part(session, readonly)
  return setmetatable({ _session = session, _readonly = readonly, _fields = {}, _dirty = true }, PART)
end

-- The tree of `raw`, from the parser's eight values per part.
local function build(session, raw, readonly)
  local values = pack(__impulse_mime_parse(raw))
  local parts = {}
  for i = 1, values.n, 8 do
    local parent, start, body_start, stop, boundary, preamble_end, epilogue_start, closed = unpack(values, i, i + 7)
    local part = new_part(session, readonly)
    part._dirty, part._original = false, sub(raw, start, stop)
    local fields
    fields, part._separator = split_header(sub(raw, start, body_start - 1))
    part._fields = header_fields(fields)
    if boundary then
      part._boundary, part._children, part._closed = boundary, {}, closed
      part._preamble = sub(raw, body_start, preamble_end - 1)
      part._epilogue = closed and sub(raw, epilogue_start, stop) or ""
    else
      part._body = sub(raw, body_start, stop)
    end
    parts[#parts + 1] = part
    if parent > 0 then
      part._parent = parts[parent]
      local siblings = parts[parent]._children
      siblings[#siblings + 1] = part
    end
  end
  return parts[1]
end

local function serialize(part)
  if not part._dirty and part._original then return part._original end
  local texts = {}
  for i, field in ipairs(part._fields) do texts[i] = field.text end
  local separator = part._separator
  if separator == nil or separator == "" then separator = "\r\n" end
  local header = concat(texts) .. separator
  if not part._children then return header .. (part._body or "") end
  local out, preamble = { header }, part._preamble or ""
  if preamble ~= "" and not find(preamble, "\n$") then preamble = preamble .. "\r\n" end
  out[2] = preamble
  for i, child in ipairs(part._children) do
    out[#out + 1] = (i == 1 and "" or "\r\n") .. "--" .. part._boundary .. "\r\n"
    out[#out + 1] = serialize(child)
  end
  out[#out + 1] = "\r\n--" .. part._boundary .. "--" .. ((part._closed and part._epilogue ~= "") and part._epilogue or "\r\n")
  return concat(out)
end

local function top_of(part)
  while part._parent do part = part._parent end
  return part
end

-- A part changed: it and its ancestors are written again, and a part in the message's tree
-- writes the whole message.
local function changed(part)
  local node = part
  while node do
    node._dirty = true
    node = node._parent
  end
  local top = top_of(part)
  local session = top._session
  if session and session.mime == top then
    local raw = serialize(top)
    set_content(session, raw)
    session.mime_source = raw
  end
end

function MSG:mime(readonly)
  local session = self.__session
  local raw = content(session)
  if not raw then error("msg:mime: the message content is not available in this phase", 2) end
  if readonly then
    if session.mime_readonly and session.mime_readonly_source == raw then return session.mime_readonly end
    local tree = build(session, raw, true)
    session.mime_readonly, session.mime_readonly_source = tree, raw
    return tree
  end
  if session.mime and session.mime_source == raw then return session.mime end
  local tree = build(session, raw, false)
  session.mime, session.mime_source = tree, raw
  return tree
end

-- Header fields of the part: msg:header's rules (values unfolded and RFC 2047-decoded; setting
-- replaces, or with mode "append"/"prepend" adds; "" removes).
function METHODS:header(name, value, mode)
  part_of(self, "msgpart:header")
  name = field_name(name, "msgpart:header")
  local wanted = lower(name)
  if value == nil then
    local values = {}
    for _, field in ipairs(self._fields) do
      if field.lower == wanted then values[#values + 1] = field_value(field.text) end
    end
    return values
  end
  writable(self, "msgpart:header")
  local additions = {}
  for _, v in ipairs(type(value) == "table" and value or { value }) do
    local text = folded_value(v, "msgpart:header")
    if text ~= "" then additions[#additions + 1] = { name = name, lower = wanted, text = name .. ": " .. text .. "\r\n" } end
  end
  mode = mode or "replace"
  local fields = {}
  if mode == "prepend" then for _, field in ipairs(additions) do fields[#fields + 1] = field end end
  for _, field in ipairs(self._fields) do
    if mode ~= "replace" or field.lower ~= wanted then fields[#fields + 1] = field end
  end
  if mode ~= "prepend" then for _, field in ipairs(additions) do fields[#fields + 1] = field end end
  self._fields = fields
  changed(self)
  return true
end

-- The addresses of the part's address fields, as msg:address_header gives them.
function METHODS:address_header(name, component)
  local out = {}
  for _, value in ipairs(part_of(self, "msgpart:address_header"):header(name)) do
    for _, item in ipairs(parse_addresses(value, component)) do out[#out + 1] = item end
  end
  return out
end

local function first_value(part, name)
  for _, field in ipairs(part._fields) do
    if field.lower == name then return field_value(field.text) end
  end
  return nil
end
-- A parameter of a header field value (RFC 2045 §5.1), quoted or not.
local function parameter(value, name)
  if not value then return nil end
  for key, quoted, plain in string.gmatch(value, ';%s*([^=%s;]+)%s*=%s*(%b"")') do
    if lower(key) == name then return (gsub(sub(quoted, 2, -2), "\\(.)", "%1")) end
  end
  for key, plain in string.gmatch(value, ";%s*([^=%s;]+)%s*=%s*([^;%s\"]+)") do
    if lower(key) == name then return plain end
  end
  return nil
end

-- "type/subtype", lower case; text/plain without a Content-Type (message/rfc822 in a digest).
function METHODS:content_type()
  part_of(self, "msgpart:content_type")
  local value = first_value(self, "content-type")
  local kind = value and match(value, "^%s*([^;%s]+/[^;%s]+)")
  if kind then return lower(kind) end
  local parent = self._parent
  if parent and parent:content_type() == "multipart/digest" then return "message/rfc822" end
  return "text/plain"
end
function METHODS:charset()
  local value = parameter(first_value(part_of(self, "msgpart:charset"), "content-type"), "charset")
  return value and lower(value)
end
function METHODS:filename()
  part_of(self, "msgpart:filename")
  return parameter(first_value(self, "content-disposition"), "filename")
    or parameter(first_value(self, "content-type"), "name")
end
function METHODS:transfer_encoding()
  local value = first_value(part_of(self, "msgpart:transfer_encoding"), "content-transfer-encoding")
  return value and lower(match(value, "^%s*(%S+)") or "7bit") or "7bit"
end
function METHODS:is_multipart() return part_of(self, "msgpart:is_multipart")._children ~= nil end
function METHODS:boundary() return part_of(self, "msgpart:boundary")._boundary end
function METHODS:children()
  local list = {}
  for i, child in ipairs(part_of(self, "msgpart:children")._children or {}) do list[i] = child end
  return list
end
-- The whole part as it stands: header fields, the empty line, the body.
function METHODS:raw() return serialize(part_of(self, "msgpart:raw")) end

local function wrap76(text)
  local lines = {}
  for i = 1, #text, 76 do lines[#lines + 1] = sub(text, i, i + 75) end
  return concat(lines, "\r\n")
end
local function encode(body, encoding)
  if encoding == "base64" then return wrap76(b64encode(body)) .. "\r\n" end
  if encoding == "quoted-printable" then return qpencode(body) end
  return body
end
local function needs_encoding(body)
  if find(body, "[%z\128-\255]") then return true end
  for line in string.gmatch(body, "[^\n]+") do
    if #line > 998 then return true end
  end
  return false
end

-- The body, transfer-decoded (base64 and quoted-printable); with an argument, replaces it,
-- encoded as the part says (a 7bit/8bit part given 8-bit or long-lined text becomes
-- quoted-printable). Not for a multipart: its body is its children.
function METHODS:body(new)
  part_of(self, "msgpart:body")
  if self._children then error("msgpart:body: a multipart part's body is its children", 2) end
  local encoding = self:transfer_encoding()
  if new == nil then
    local body = self._body or ""
    if encoding == "base64" then return b64decode(body) end
    if encoding == "quoted-printable" then return qpdecode(body) end
    return body
  end
  writable(self, "msgpart:body")
  new = tostring(new)
  if encoding ~= "base64" and encoding ~= "quoted-printable" and needs_encoding(new) then
    encoding = "quoted-printable"
    self:header("Content-Transfer-Encoding", encoding)
  end
  self._body = encode(new, encoding)
  changed(self)
  return true
end
METHODS.text = METHODS.body

local function detached(part, caller)
  part_of(part, caller)
  if part._parent then error(caller .. ": the part is in a tree: unlink it first", 3) end
  return part
end
local function place(parent, index, part, caller)
  writable(parent, caller)
  if not parent._children then error(caller .. ": only a multipart part has children", 3) end
  detached(part, caller)
  local node = parent
  while node do
    if node == part then error(caller .. ": a part cannot contain itself", 3) end
    node = node._parent
  end
  part._parent, part._readonly = parent, parent._readonly
  insert(parent._children, index, part)
  changed(parent)
  return true
end
function METHODS:addFirstChild(part) return place(self, 1, part, "msgpart:addFirstChild") end
function METHODS:addLastChild(part)
  return place(self, #(self._children or {}) + 1, part, "msgpart:addLastChild")
end
local function sibling_index(self, caller)
  local parent = writable(self, caller)._parent
  if not parent then error(caller .. ": the part has no parent", 3) end
  for i, child in ipairs(parent._children) do
    if child == self then return parent, i end
  end
end
function METHODS:insertBefore(part)
  local parent, i = sibling_index(self, "msgpart:insertBefore")
  return place(parent, i, part, "msgpart:insertBefore")
end
function METHODS:insertAfter(part)
  local parent, i = sibling_index(self, "msgpart:insertAfter")
  return place(parent, i + 1, part, "msgpart:insertAfter")
end
-- Takes the part out of its tree (it can be placed elsewhere afterwards).
function METHODS:unlink()
  local parent, i = sibling_index(self, "msgpart:unlink")
  remove(parent._children, i)
  self._parent = nil
  self._dirty = true
  changed(parent)
  return true
end
METHODS.add_first_child, METHODS.add_last_child = METHODS.addFirstChild, METHODS.addLastChild
METHODS.insert_before, METHODS.insert_after = METHODS.insertBefore, METHODS.insertAfter

local boundary_count = 0
function MSG:makeBoundary()
  boundary_count = boundary_count + 1
  return format("=_impulse_part_%d_%d_%d", os.time(), math.random(1, 1e9), boundary_count)
end
-- A new part, not in any tree yet: Content-Type `mimetype`, the body encoded with `encoding`
-- (default: quoted-printable for text, base64 otherwise).
function MSG:makePart(mimetype, body, encoding)
  mimetype = tostring(mimetype or "text/plain")
  encoding = lower(tostring(encoding or (find(lower(mimetype), "^text/") and "quoted-printable" or "base64")))
  if encoding ~= "7bit" and encoding ~= "8bit" and encoding ~= "base64" and encoding ~= "quoted-printable" then
    error("msg:makePart: unknown encoding " .. encoding, 2)
  end
  local part = new_part(self.__session, false)
  part:header("Content-Type", mimetype)
  part:header("Content-Transfer-Encoding", encoding)
  part._body = encode(tostring(body or ""), encoding)
  return part
end
-- A new multipart part with no children yet; `boundary` default msg:makeBoundary(). The close
-- delimiter is always written (`add_terminator` is accepted).
function MSG:makeContainer(mimetype, boundary, add_terminator)
  mimetype = tostring(mimetype or "multipart/mixed")
  if not find(lower(mimetype), "^multipart/") then error("msg:makeContainer: not a multipart type: " .. mimetype, 2) end
  boundary = tostring(boundary or self:makeBoundary())
  if #boundary > 70 or find(boundary, "[^%w'()+_,%-%./:=? ]") or find(boundary, " $") then
    error("msg:makeContainer: not a MIME boundary (RFC 2046 §5.1.1)", 2)
  end
  local part = new_part(self.__session, false)
  part:header("Content-Type", format('%s; boundary="%s"', mimetype, boundary))
  part._boundary, part._children, part._closed, part._preamble, part._epilogue = boundary, {}, true, "", "\r\n"
  return part
end

-- msg:text_replace(pattern, replacement): every match of the PCRE pattern in every text part's
-- decoded text replaced; true when any changed.
function MSG:text_replace(pattern, replacement)
  local any = false
  local function walk(part)
    if part._children then
      for _, child in ipairs(part._children) do walk(child) end
    elseif find(part:content_type(), "^text/") then
      local text = part:body()
      local result, message = msys.pcre.replace(text, pattern, replacement)
      if not result then error("msg:text_replace: " .. tostring(message), 3) end
      if result ~= text then
        part:body(result)
        any = true
      end
    end
  end
  walk(self:mime())
  return any
end

-- msys.rfc3464: RFC 3464 delivery status fields and reports (docs/lua/library.md). Actions are
-- msys.core.FAILED, DELAYED, DELIVERED, RELAYED and EXPANDED.
local rfc3464 = {}
local actions = { failed = true, delayed = true, delivered = true, relayed = true, expanded = true }
local action_class = { failed = "5", delayed = "4", delivered = "2", relayed = "2", expanded = "2" }
local function action_of(action, caller)
  action = lower(tostring(action or ""))
  if not actions[action] then error(caller .. ": the action must be msys.core.FAILED, DELAYED, DELIVERED, RELAYED or EXPANDED", 3) end
  return action
end
-- Action, Status and Diagnostic-Code of a reply text ("550 5.1.1 no such user"), in order.
local function status_fields(text, action)
  text = gsub(tostring(text or ""), "[%c]+", " ")
  -- The reply may follow a stage ("RCPT TO: 550 5.1.1 …", as delivery hooks get it).
  local code = match(text, "^%s*([245]%d%d)") or match(text, "^[%u ]+:%s*([245]%d%d)")
  local enhanced = code and match(text, code .. "[%s%-]+([245]%.%d%d?%d?%.%d%d?%d?)")
  if not action then
    local class = code and sub(code, 1, 1)
    action = class == "2" and "delivered" or class == "4" and "delayed" or "failed"
  end
  local status = enhanced
  if not status or sub(status, 1, 1) ~= action_class[action] then status = action_class[action] .. ".0.0" end
  local fields = { { "Action", action }, { "Status", status } }
  if find(text, "%S") then fields[#fields + 1] = { "Diagnostic-Code", "smtp; " .. match(text, "^%s*(.-)%s*$") } end
  return fields
end
local function reply_of(msg)
  local code, text = msg:get_code()
  if code == nil then return "" end
  return text and (tostring(code) .. " " .. tostring(text)) or tostring(code)
end
-- compute_delivery_status(msg, action): the message's current recipient's fields, as a table of
-- header = value.
function rfc3464.compute_delivery_status(msg, action)
  action = action_of(action, "msys.rfc3464.compute_delivery_status")
  local out = {}
  local recipient = msg:rcptto()
  if recipient then out["Final-Recipient"] = "rfc822; " .. recipient end
  for _, pair in ipairs(status_fields(reply_of(msg), action)) do out[pair[1]] = pair[2] end
  return out
end
-- compute_delivery_status_string(response_text): the same fields for a reply text, as
-- "Header: value\r\n" lines (the action follows from the reply's class).
function rfc3464.compute_delivery_status_string(response_text)
  local lines = {}
  for _, pair in ipairs(status_fields(response_text)) do lines[#lines + 1] = pair[1] .. ": " .. pair[2] .. "\r\n" end
  return concat(lines)
end
-- create_mdn(msg, action): the report (a multipart/report message, as Impulse's bounces) for the
-- message's current recipient, to its sender, with the original's header.
function rfc3464.create_mdn(msg, action)
  action = action_of(action, "msys.rfc3464.create_mdn")
  local recipient = msg:rcptto()
  if not recipient then error("msys.rfc3464.create_mdn: the message has no current recipient in this phase", 2) end
  local fields = status_fields(reply_of(msg), action)
  local diagnostic = fields[3] and sub(fields[3][2], 7) or action
  return __impulse_delivery_report(action, msg:mailfrom() or "", recipient, fields[2][2], diagnostic,
                                  content(msg.__session) or "")
end
-- send_mdn(msg, action): create_mdn, injected from the null sender to the message's sender;
-- never to the null sender (RFC 5321 §4.5.5). Returns the report's id, or nil and why.
function rfc3464.send_mdn(msg, action)
  local sender = msg:mailfrom()
  if sender == nil or sender == "" then return nil, "no report to the null sender" end
  local report = msys.core.ec_message_new()
  set_content(report.__session, rfc3464.create_mdn(msg, action))
  return report:inject("", sender)
end
-- extract_delivery_status(msg): the fields of a report's message/delivery-status part: the
-- per-message fields and the first recipient's in one table, every recipient's block in
-- `recipients`; nil when the message is not a report or no field parses.
function rfc3464.extract_delivery_status(msg)
  local ok, top = pcall(msg.mime, msg, true)
  if not ok or not top then return nil end
  local found
  local function walk(part)
    if found then return end
    if part:content_type() == "message/delivery-status" then found = part return end
    for _, child in ipairs(part:children() or {}) do walk(child) end
  end
  walk(top)
  if not found then return nil end
  local text = gsub(tostring(found:body() or ""), "\r\n", "\n")
  local blocks, block, name = {}, nil, nil
  for line in string.gmatch(text .. "\n", "([^\n]*)\n") do
    if not find(line, "%S") then
      block, name = nil, nil
    elseif find(line, "^[ \t]") and block and name then
      block[name] = block[name] .. " " .. match(line, "^%s*(.-)%s*$")
    else
      local field, value = match(line, "^([!-9;-~]+):%s*(.-)%s*$")
      if field then
        if not block then block = {}; blocks[#blocks + 1] = block end
        block[field], name = value, field
      end
    end
  end
  if #blocks == 0 then return nil end
  local out = { recipients = {} }
  for i, each in ipairs(blocks) do
    if i > 1 then out.recipients[#out.recipients + 1] = each end
    if i <= 2 then for field, value in pairs(each) do out[field] = value end end
  end
  return out
end
msys.rfc3464 = rfc3464
package.preload["msys.rfc3464"] = function() return rfc3464 end
I.supported["msys.rfc3464"] = true
