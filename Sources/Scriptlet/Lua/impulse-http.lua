-- msys.http.client (Momentum's HTTP client for scripts; docs/lua/library.md, "HTTP"): requests
-- made by Impulse's HTTP client on the server's event loops. In a callout, timer or delivery
-- hook do_request suspends the coroutine until the answer is in; elsewhere (console commands,
-- thread-pool jobs, init) it blocks that thread, never an event loop.
local I = __impulse
local type, tostring, tonumber, error, setmetatable, getmetatable, select, ipairs, unpack =
      type, tostring, tonumber, error, setmetatable, getmetatable, select, ipairs, unpack
local gmatch, match, lower = string.gmatch, string.match, string.lower
local function pack(...) return { n = select("#", ...), ... } end
local default_timeout = __impulse_http_default_timeout
local traceback, floor = debug.traceback, math.floor

local CLIENT = {}
CLIENT.__index = CLIENT
CLIENT.__tostring = function() return "msys.http.client" end

msys.http = msys.http or {}
msys.http.client = {}
function msys.http.client.new()
  return setmetatable({ headers = {}, timeout = default_timeout }, CLIENT)
end

local function client_of(self, caller)
  if getmetatable(self) ~= CLIENT then error(caller .. ": call it on a client from msys.http.client.new()", 3) end
  return self
end

-- client:set_header("Name: value") or client:set_header("Name", "value"): sent with each request.
function CLIENT:set_header(name, value)
  client_of(self, "set_header")
  name = tostring(name)
  if value == nil then
    local n, v = match(name, "^%s*([^:]+):%s*(.-)%s*$")
    if not n then error("set_header: expected 'Name: value' or (name, value)", 2) end
    name, value = n, v
  end
  self.headers[#self.headers + 1] = { name, tostring(value) }
  return true
end

-- client:set_timeout(seconds): the whole request's time limit (at most 60 s; default 30).
function CLIENT:set_timeout(seconds)
  client_of(self, "set_timeout")
  seconds = tonumber(seconds)
  if not seconds or seconds ~= seconds or seconds <= 0 then error("set_timeout: expected a positive number of seconds", 2) end
  self.timeout = seconds
  return true
end

-- client:do_request(method, url[, body]): true once a response is in (any status), or nil, err
-- (no answer: refused, timed out, too large).
function CLIENT:do_request(method, url, body)
  client_of(self, "do_request")
  local flat = {}
  for i, header in ipairs(self.headers) do flat[2 * i - 1], flat[2 * i] = header[1], header[2] end
  local data = body ~= nil and tostring(body) or nil
  local answer = pack(I.wait("http", tostring(method), tostring(url), self.timeout, data, unpack(flat)))
  if answer[1] ~= "ok" then
    self.status, self.body, self.response_headers = nil, nil, nil
    return nil, tostring(answer[2])
  end
  self.status, self.raw_headers, self.body = answer[2], answer[3], answer[4]
  local headers = {}
  for name, value in gmatch(self.raw_headers, "([^:\r\n]+): ([^\r\n]*)\r\n") do
    local key = lower(name)
    headers[key] = headers[key] and (headers[key] .. ", " .. value) or value
  end
  self.response_headers = headers
  return true
end

function CLIENT:get_status() return client_of(self, "get_status").status end
function CLIENT:get_body() return client_of(self, "get_body").body end
-- The response's header fields by lower-case name (repeated fields joined with ", ").
function CLIENT:get_headers() return client_of(self, "get_headers").response_headers end
-- The header fields as received, "Name: value" lines.
function CLIENT:parse_headers() return client_of(self, "parse_headers").raw_headers end

package.preload["msys.http.client"] = function() return msys.http.client end
package.preload["msys.http"] = function() return msys.http end
I.supported["msys.http.client"] = true
I.supported["msys.http"] = true

-- msys.httpsrv.register(method or nil, path, fn(session)): an endpoint on the HTTP_Listener
-- (Momentum's msys.httpsrv). Impulse runs it in the scheduler's state, where it may wait (msys.db,
-- msys.http block that thread). The session: request_url_get(), response_status_set_std(code,
-- text[, mime]) as Momentum's, and Impulse's request_method_get(), request_body_get(),
-- request_header_get(name), response_body_set(text), response_header_set(name, value).
local endpoints = {}
msys.httpsrv = {}
function msys.httpsrv.register(method, path, fn)
  if method ~= nil and type(method) ~= "string" then error("msys.httpsrv.register: the method must be a string or nil", 2) end
  if type(path) ~= "string" or string.sub(path, 1, 1) ~= "/" then error("msys.httpsrv.register: the path must start with /", 2) end
  if type(fn) ~= "function" then error("msys.httpsrv.register: the handler must be a function", 2) end
  endpoints[(method and string.upper(method) or "*") .. " " .. path] = fn
  return true
end
local SESSION = {}
SESSION.__index = SESSION
function SESSION:request_url_get() return self.url end
function SESSION:request_method_get() return self.method end
function SESSION:request_body_get() return self.body end
function SESSION:request_header_get(name) return self.request_headers[lower(tostring(name))] end
function SESSION:response_status_set_std(code, text, mime)
  code = tonumber(code)
  if not code or code < 100 or code > 599 then error("response_status_set_std: not an HTTP status", 2) end
  self.status, self.reason = floor(code), text and tostring(text) or nil
  if self.response_body == nil and text ~= nil then self.response_body = tostring(text) end
  if mime ~= nil then self.mime = tostring(mime) end
  return true
end
function SESSION:response_body_set(text)
  self.response_body = tostring(text)
  return true
end
function SESSION:response_header_set(name, value)
  name, value = tostring(name), tostring(value)
  if not string.find(name, "^[%w%-_]+$") or string.find(value, "[\r\n%z]") then
    error("response_header_set: a header field that cannot be sent", 2)
  end
  self.response_headers[#self.response_headers + 1] = name .. ": " .. value
  return true
end
-- Runs the endpoint for a request: nothing when none is registered; else the status, reason,
-- content type, body and extra header lines (or 500 and the error).
function __impulse_httpsrv_run(method, url, body, header_lines)
  local path = string.match(url, "^[^?]*")
  local fn = endpoints[method .. " " .. path] or endpoints["* " .. path]
  if not fn then return nil end
  local request_headers = {}
  for name, value in gmatch(header_lines or "", "([^:\r\n]+): ([^\r\n]*)\r\n") do request_headers[lower(name)] = value end
  local session = setmetatable({ url = url, method = method, body = body or "", request_headers = request_headers,
                                 response_headers = {}, status = 200, mime = "text/plain" }, SESSION)
  local ok, err = xpcall(fn, traceback, session)
  if not ok then return 500, "Internal Server Error", "text/plain", "handler error: " .. tostring(err) .. "\n", "" end
  return session.status, session.reason or "", session.mime, session.response_body or "",
         table.concat(session.response_headers, "\r\n")
end
package.preload["msys.httpsrv"] = function() return msys.httpsrv end
package.preload["msys.extended.httpsrv"] = function() return msys.httpsrv end
I.supported["msys.httpsrv"] = true
I.supported["msys.extended.httpsrv"] = true
