-- edgekey.lua -- LuaJIT FFI binding of libedgekey's public C API
-- (edgekey/edgekey.h), for OpenResty and Debian's libnginx-mod-http-lua.
--
--   local edgekey = require "edgekey"
--   local v = assert(edgekey.open("edgekey-in-mum"))     -- once per worker
--   local r = v:validate(ngx.var.http_authorization,
--     { permission = "chat:write", client_ip = ngx.var.remote_addr,
--       origin = ngx.var.http_origin })
--   if r.status ~= 200 then return v:deny(r) end          -- edgekeyd's answer
--   -- r.status, r.code, r.key_id, r.workspace, r.role, r.type, r.env,
--   -- r.expires_at (nil = never); key fields are nil when no key was found
--
-- A validator is for one thread at a time: in nginx, open one per worker
-- (init_worker_by_lua, or lazily at the first request). Validating
-- allocates nothing but the result table: the request and answer structs
-- live in the validator, the names are interned strings.
-- libedgekey.so.0 is loaded on first use; edgekey.load(path) picks another.
local ffi = require "ffi"

ffi.cdef [[
typedef struct ek_validator ek_validator;
typedef struct ek_request {
  const char *authorization;
  const char *permission;
  const char *client_ip;
  const char *origin;
  const char *env;
} ek_request;
/* edgekey.h's ek_result, its long long expires_at read as two 32-bit
   halves (same offset and size): a Lua number, no int64 box per call. */
typedef struct __attribute__((aligned(8))) ek_result {
  int status;
  int code;
  char key_id[48], workspace[48], role[32];
  int type, env;
  uint32_t expires_lo;
  int32_t expires_hi;
} ek_result;
int ek_open(const char *table_name, ek_validator **out);
void ek_close(ek_validator *v);
int ek_validate(ek_validator *v, const ek_request *req, ek_result *out);
const char *ek_code_name(int code);
int ek_code_status(int code);
const char *ek_strerror(int err);
const char *ek_type_name(int type);
const char *ek_env_name(int env);
size_t ek_result_json(const ek_result *r, char *buf, size_t len);
const char *ek_result_challenge(const ek_result *r);
]]

-- libc's memcmp (declaring a function again is allowed; pcall in case
-- another module declared it with other types).
pcall(ffi.cdef, "int memcmp(const void *s1, const void *s2, size_t n);")
local libc = ffi.C
local RESULT_SIZE = ffi.sizeof("ek_result")

local C                 -- the loaded library
local code_names = {}   -- ek_code -> "revoked_key", ...
local type_names, env_names = {}, {}
local JSON_MAX = 1024   -- EK_RESULT_JSON_MAX
local CODE_ORIGIN_NOT_ALLOWED, CODE_IP_NOT_ALLOWED  -- their ek_code numbers

local _M = { _VERSION = "0.1.0" }

-- Loads libedgekey from `path` (default: libedgekey.so.0, then libedgekey.so,
-- through the dynamic loader's search path). Returns true, or nil and why.
function _M.load(path)
  local ok, lib
  for _, name in ipairs(path and { path } or { "libedgekey.so.0", "edgekey" }) do
    ok, lib = pcall(ffi.load, name)
    if ok then break end
  end
  if not ok then
    return nil, "edgekey: cannot load libedgekey (" .. tostring(lib) .. "): install it or pass its path to edgekey.load"
  end
  C = lib
  for c = 0, 63 do
    local name = ffi.string(C.ek_code_name(c))
    if name == "unknown_code" then break end
    code_names[c] = name
  end
  for c, n in pairs(code_names) do
    if n == "origin_not_allowed" then CODE_ORIGIN_NOT_ALLOWED = c end
    if n == "ip_not_allowed" then CODE_IP_NOT_ALLOWED = c end
  end
  for t = 0, 2 do
    local n = ffi.string(C.ek_type_name(t))
    type_names[t] = n ~= "" and n or nil
    n = ffi.string(C.ek_env_name(t))
    env_names[t] = n ~= "" and n or nil
  end
  return true
end

local Validator = {}
Validator.__index = Validator

-- Maps the table read-only: `table.name` of edgekey.yaml, or the path of a
-- table in hugetlbfs. Returns a validator, or nil and a message that says
-- what to do (e.g. join the table's readers group).
function _M.open(table_name)
  if type(table_name) ~= "string" or table_name == "" then
    return nil, "edgekey.open: expected the table's name (table.name in edgekey.yaml)"
  end
  if not C then
    local ok, err = _M.load()
    if not ok then return nil, err end
  end
  local out = ffi.new("ek_validator *[1]")
  local rc = C.ek_open(table_name, out)
  if rc ~= 0 then
    return nil, ffi.string(C.ek_strerror(rc))
  end
  return setmetatable({
    handle = ffi.gc(out[0], C.ek_close),
    req = ffi.new("ek_request"),
    res = ffi.new("ek_result"),
    json_buf = nil,  -- made on the first deny()/json()
    -- the last answer with a key and its fields as strings (result_of)
    last = { res = ffi.new("ek_result") },
    -- access()'s last answer and the read-only table made of it (answer_of)
    shared = { res = ffi.new("ek_result") },
  }, Validator)
end

local function field(s)
  if s == nil or s == "" then return nil end
  return s
end

-- Fills self.res for these inputs (each nil = not given).
local function check(self, authorization, permission, client_ip, origin, env)
  local req = self.req
  req.authorization = authorization
  req.permission = field(permission)
  req.client_ip = field(client_ip)
  req.origin = field(origin)
  req.env = field(env)
  C.ek_validate(self.handle, req, self.res)  -- the strings are anchored by the arguments
end

-- The answer in v.res as a table, made with all its fields at once (no
-- rehash as they are added). The strings of an answer with a key are made
-- once: while v's answers are byte for byte the same as the one they were
-- made from (v.last.res), that one's are reused.
local function result_of(v)
  local res = v.res
  local status, code = res.status, code_names[res.code] or "keyset_unavailable"
  if res.key_id[0] == 0 then return { status = status, code = code } end
  local last = v.last
  if libc.memcmp(res, last.res, RESULT_SIZE) ~= 0 then
    local expires_at
    local lo, hi = res.expires_lo, res.expires_hi
    if lo ~= 0 or hi ~= 0 then expires_at = hi * 4294967296 + lo end
    last.key_id, last.workspace, last.role = ffi.string(res.key_id), ffi.string(res.workspace), ffi.string(res.role)
    last.expires_at = expires_at
    ffi.copy(last.res, res, RESULT_SIZE)
  end
  return { status = status, code = code, key_id = last.key_id,
           workspace = last.workspace, role = last.role,
           type = type_names[res.type], env = env_names[res.env], expires_at = last.expires_at }
end

-- access()'s answer as a table: one read-only table per distinct answer
-- (an ek_result byte for byte), given again while the answers repeat, so a
-- request with the last one's answer allocates nothing (no garbage for
-- LuaJIT's collector: ~4% of nginx's instructions per request). Writing to
-- it raises an error: another request may hold the same table.
local function read_only(_, field)
  error("edgekey: the answer of edgekey.access() is read-only (it is shared by requests with the same answer); "
        .. "copy what you change instead of setting r." .. tostring(field), 2)
end

local function answer_of(v)
  local a = v.shared
  if a.r and libc.memcmp(v.res, a.res, RESULT_SIZE) == 0 then return a.r end
  local r = result_of(v)
  ffi.copy(a.res, v.res, RESULT_SIZE)
  a.r = setmetatable({}, { __index = r, __newindex = read_only, __metatable = false })
  return a.r
end

-- Validates `authorization` (the raw header value, "Bearer ...", or the bare
-- token; nil = none) with opts.permission, opts.client_ip, opts.origin and
-- opts.env (each nil = not given). Returns the answer as a table.
function Validator:validate(authorization, opts)
  if opts then
    check(self, authorization, opts.permission, opts.client_ip, opts.origin, opts.env)
  else
    check(self, authorization)
  end
  return result_of(self)
end

local function json_of(res, buf)
  local n = tonumber(C.ek_result_json(res, buf, JSON_MAX))
  return ffi.string(buf, math.min(n, JSON_MAX - 1))
end

local function challenge_of(res)
  local c = C.ek_result_challenge(res)
  if c == nil then return nil end
  return ffi.string(c)
end

-- The JSON body edgekeyd's /v1/validate sends for the last answer of this
-- validator (libedgekey's ek_result_json: one rendering everywhere).
function Validator:json()
  if not self.json_buf then self.json_buf = ffi.new("char[?]", JSON_MAX) end
  return json_of(self.res, self.json_buf)
end

-- The WWW-Authenticate value (RFC 6750) for the last answer, or nil.
function Validator:challenge()
  return challenge_of(self.res)
end

-- ngx_lua: sends the refusal `r` with `body` and `challenge` and ends the request.
local function send_refusal(r, body, challenge)
  local ngx = ngx
  ngx.status = r.status
  local h = ngx.header
  h["Content-Type"] = "application/json"
  h["X-Edgekey-Code"] = r.code
  if r.key_id then
    h["X-Edgekey-Key-Id"] = r.key_id
    h["X-Edgekey-Workspace"] = r.workspace
    h["X-Edgekey-Role"] = r.role
    h["X-Edgekey-Type"] = r.type
    h["X-Edgekey-Env"] = r.env
  end
  h["WWW-Authenticate"] = challenge
  if r.status == 503 then h["Retry-After"] = "1" end
  h["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(ngx.HTTP_OK)  -- the status and body are sent: end the request
end

-- ngx_lua only: answers the refusal `r` (the last answer of this validator)
-- as edgekeyd and the nginx module do -- its status, X-Edgekey-* headers,
-- WWW-Authenticate or Retry-After, the JSON body -- and ends the request.
function Validator:deny(r)
  return send_refusal(r, self:json(), self:challenge())
end

-- ngx_lua only, the whole access check in one call (access_by_lua):
--   local r = require("edgekey").access("edgekey-in-mum", { permission = "chat:write" })
-- validates the request's Authorization with opts.permission, opts.env,
-- opts.client_ip (default ngx.var.remote_addr) and its Origin header; a
-- refusal is answered (deny) and ends the request, a 200 is returned: a
-- read-only table (read its fields by name; see answer_of).
-- The worker's validator of each table is opened on first use; while that
-- fails, requests get 503 keyset_unavailable and it is tried again at most
-- once a second (the reason logged once per change, never a token).
local workers = {}  -- table name -> { v = validator, next_try = time, err = last error }
local unavailable_res, unavailable_buf
local scratch = {}

-- The worker's validator of `table_name`, opened now when it is not open
-- and the last try is a second old; nil while it cannot be opened.
local function worker_validator(table_name)
  local ngx = ngx
  local w = workers[table_name]
  if not w then
    w = { next_try = 0 }
    workers[table_name] = w
  end
  if w.v then return w.v end
  if ngx.now() < w.next_try then return nil end
  local v, err = _M.open(table_name)
  w.next_try = ngx.now() + 1
  if v then
    w.v = v
    if w.err then ngx.log(ngx.NOTICE, "edgekey: table \"", table_name, "\" opened") end
    w.err = nil
  elseif err ~= w.err then
    ngx.log(ngx.WARN, "edgekey: cannot open table \"", table_name, "\": ", err,
            "; requests get 503 keyset_unavailable, retrying every second")
    w.err = err
  end
  return v
end

local function send_unavailable()
  if not unavailable_res then
    unavailable_res = ffi.new("ek_result")
    unavailable_res.status, unavailable_res.code = 503, 12  -- EK_CODE_KEYSET_UNAVAILABLE
    unavailable_buf = ffi.new("char[?]", JSON_MAX)
  end
  return send_refusal({ status = 503, code = "keyset_unavailable" }, json_of(unavailable_res, unavailable_buf), nil)
end

-- The request's Authorization header, read through ngx_lua's FFI API (what
-- resty.core's ngx.req.get_headers uses) without making a Lua string of
-- the token nor a table of the headers: copied NUL-terminated into
-- auth_buf. Falls back to ngx.var.http_authorization when ngx_lua has no
-- such API (resty.core not loaded). Set up by the first access().
local get_request        -- resty.core.base's: the request's address; false without it
local headers_count      -- ngx_lua's ngx_http_lua_ffi_req_get_headers_count, or false
local headers_fill       -- ngx_lua's ngx_http_lua_ffi_req_get_headers
local count_takes_truncated  -- its third argument (ngx_lua >= 0.10.16)
local header_buf, header_cap = nil, 0
local truncated
local auth_buf, auth_cap = nil, 0

local function setup_request_api()
  local ok, base = pcall(require, "resty.core.base")
  get_request = ok and type(base) == "table" and type(base.get_request) == "function" and base.get_request or false
  headers_count = false
  if get_request and pcall(require, "resty.core.request")
     and pcall(ffi.typeof, "ngx_http_lua_ffi_table_elt_t") then
    local okc, count = pcall(function() return libc.ngx_http_lua_ffi_req_get_headers_count end)
    local okf, fill = pcall(function() return libc.ngx_http_lua_ffi_req_get_headers end)
    if okc and okf then
      -- resty.core declares the count with (r, max, int *truncated), or
      -- (r, max) before ngx_lua 0.10.16: a call with the wrong number of
      -- arguments fails before calling.
      truncated = ffi.new("int[1]")
      local r = get_request()
      if r then
        local ok3 = pcall(count, r, 0, truncated)
        if ok3 or pcall(count, r, 0) then
          headers_count, headers_fill, count_takes_truncated = count, fill, ok3
        end
      end
    end
  end
  auth_cap = 256
  auth_buf = ffi.new("char[?]", auth_cap)
end

-- The Authorization header of request r as the argument for ek_request
-- (the copy in auth_buf) and its identity: the value's address in nginx's
-- memory (a new value, e.g. ngx.req.set_header's, has another) and length;
-- or nil, 0, 0. (ngx.var.http_authorization, itself and 0 where ngx_lua's
-- header API does not answer.)
local auth_at = 0  -- where the last request had it: looked at first (a loop
                   -- over the headers is left for when it is elsewhere: it
                   -- is the part LuaJIT compiles least predictably)
local function authorization_at(h)
  local len = h.value.len
  if len >= auth_cap then
    auth_cap = len + 1
    auth_buf = ffi.new("char[?]", auth_cap)
  end
  ffi.copy(auth_buf, h.value.data, len)
  auth_buf[len] = 0
  return auth_buf, tonumber(ffi.cast("intptr_t", h.value.data)), len
end

local function is_authorization(h)
  return h.key.len == 13 and libc.memcmp(h.key.data, "authorization", 13) == 0
end

local function request_authorization(r)
  local n
  if count_takes_truncated then n = headers_count(r, 0, truncated) else n = headers_count(r, 0) end
  if n == 0 then return nil, 0, 0 end
  if n < 0 then  -- a request ngx_lua's header API refuses (no socket): as before
    local auth = ngx.var.http_authorization
    return auth, auth, 0
  end
  if n > header_cap then
    header_cap = n < 64 and 64 or n
    header_buf = ffi.new("ngx_http_lua_ffi_table_elt_t[?]", header_cap)
  end
  headers_fill(r, header_buf, n, 0)  -- the names lowercased
  if auth_at < n and is_authorization(header_buf[auth_at]) then
    return authorization_at(header_buf[auth_at])
  end
  for i = 0, n - 1 do
    if is_authorization(header_buf[i]) then
      auth_at = i
      return authorization_at(header_buf[i])
    end
  end
  return nil, 0, 0
end

-- The last accepted answer, for an internal redirect of the same request
-- (index, try_files, error_page: nginx runs the access phase again in the
-- new location). Reused only when ngx.req.is_internal() and it is the same
-- request (its ngx_http_request_t and start time) with every input the
-- same (the Authorization header the same value in nginx's memory);
-- otherwise the key is checked again.
local kept = {}
function _M.access(table_name, opts)
  local ngx = ngx
  local w = workers[table_name]
  local v = w and w.v or worker_validator(table_name)
  if not v then return send_unavailable() end
  if get_request == nil then setup_request_api() end
  -- The Origin and the client's address change the answer only for keys
  -- restricted by them, which fail without them (origin_not_allowed,
  -- ip_not_allowed): they are looked up (ngx.var) only then, and the key
  -- checked again with them; any other answer is the one they would give.
  local var, req = ngx.var, ngx.req
  local q = opts or scratch
  local perm, ip, env = q.permission, q.client_ip, q.env
  local rq = get_request and get_request()
  local auth, auth_id, auth_len
  if headers_count and rq then
    auth, auth_id, auth_len = request_authorization(rq)
  else
    auth = var.http_authorization
    auth_id, auth_len = auth, 0
  end
  local start = rq and req.start_time()
  local k = kept
  if rq and k.rq == rq and k.start == start and k.name == table_name and k.auth == auth_id
     and k.auth_len == auth_len and k.perm == perm and k.ip == ip and k.env == env and req.is_internal()
     and (not k.origin or k.origin == var.http_origin)
     and (not k.remote or k.remote == var.remote_addr) then
    return k.r
  end
  local origin, remote
  local res = v.res
  check(v, auth, perm, ip, nil, env)
  if res.code == CODE_ORIGIN_NOT_ALLOWED then
    origin = var.http_origin
    if origin then check(v, auth, perm, ip, origin, env) end
  end
  if res.code == CODE_IP_NOT_ALLOWED and ip == nil then
    remote = var.remote_addr
    check(v, auth, perm, remote, origin, env)
  end
  local r = answer_of(v)
  if r.status ~= 200 then return v:deny(r) end
  if rq then
    k.rq, k.start, k.name, k.auth, k.auth_len = rq, start, table_name, auth_id, auth_len
    k.perm, k.ip, k.env = perm, ip, env
    k.origin, k.remote, k.r = origin or false, remote or false, r
  end
  return r
end

-- Releases the mapping now (otherwise when the validator is collected).
function Validator:close()
  if self.handle ~= nil then
    C.ek_close(ffi.gc(self.handle, nil))
    self.handle = nil
  end
end

-- "revoked_key" for an ek_code number.
function _M.code_name(code)
  return code_names[code]
end

return _M
