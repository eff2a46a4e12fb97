-- Correct uses of every example module: the stub check expects no
-- diagnostics in this file.
local greet = require("greet")
local buffer = require("buffer")

---@type string
local hello = greet.hello()
local a = greet.greet("Ann")
local b = greet.greet("Ann", "Howdy")
local c = greet.chant("la", 3)
local d = greet.chant("la", 3, "-")
local word, err = greet.in_language("fr")
if err then
  local kind = err:kind()
  local msg = err:message()
  local retry = err:retryable()
  local wrapped = errors.wrap(err, "context")
  local is = errors.is(wrapped, errors.NOT_FOUND)
  print(kind, msg, retry, is, wrapped:cause())
end
print(hello, a, b, c, d, word)
for _, g in ipairs({ greet.greet_all("Ann", "Bob") }) do print(g) end

local buf = buffer.Buffer.new("x")
local buf2 = buffer.Buffer.with({ label = "y", capacity = 8 })
---@type integer
local size = buf:write("a", "b", "c")
buf.label = "named"
---@type integer
local writes = buf.writes
local part = buf:sub(1, 2)
local stats = buf:stats()
---@type integer
local lines = stats.lines
buf:each_line(function(line) print(line) end)
local joined = buffer.join({ buf, buf2 }, ",")
print(size, writes, part, lines, joined:contents(), #buf, buf == buf2, buf:is_empty())
buf:clear()

local e = errors.new({ kind = errors.TIMEOUT, message = "slow", retryable = true })
print(e:kind(), e:details(), e:stack())

local time = require("time")

---@async
local function tick()
  time.sleep(10)
  local now = time.now()
  local ticker = time.ticker(5)
  if ticker then
    ticker:wait()
    print(now, ticker.period, ticker.active, ticker:stop())
  end
end
print(coroutine.wrap(tick))

local json = require("json")
local text = json.encode({ a = 1, list = { 1, 2 } }, { pretty = true })
local decoded, derr = json.decode(text or "{}")
print(text, decoded, derr, json.is_null(json.null))

local fs = require("fs")
local http = require("http_client")
local sql = require("sql")

---@async
local function io_work()
  local n = fs.write("/tmp/x.txt", "data")
  local data = fs.read("/tmp/x.txt")
  local names = fs.list("/tmp")
  print(n, data, names and #names, fs.exists("/tmp"), fs.remove("/tmp/x.txt"))
  local resp = http.get("http://127.0.0.1:1/", 100)
  if resp then print(resp.status, resp.headers["x"], resp.body) end
  local r2 = http.request({ url = "http://127.0.0.1:1/", method = "POST", body = "b", timeout_ms = 10 })
  print(r2)
  local db = sql.open(":memory:")
  if db then
    db:exec("CREATE TABLE t (x)")
    db:exec("INSERT INTO t VALUES (?1)", { 1 })
    local rows = db:query("SELECT x FROM t")
    print(rows and rows[1], db.path)
    db:batch({ { sql = "DELETE FROM t" } })
    ---@async
    local function clear() db:exec("DELETE FROM t") end
    db:transaction(clear)
  end
end
print(coroutine.wrap(io_work))

-- The `v, err` convention in its common forms: after the check, the value
-- is no longer optional (the stubs' `---@return_overload` rows).
local function lang_upper(code)
  local w, werr = greet.in_language(code)
  if werr then return nil, werr end
  return w:upper()
end
local function lang_not(code)
  local w, werr = greet.in_language(code)
  if not w then return nil, werr:message() end
  return w:upper()
end
local function lang_assert(code)
  local w, werr = greet.in_language(code)
  assert(w, werr)
  local w2 = assert(greet.in_language(code))
  return w:upper() .. w2:lower()
end
local function lang_raise(code)
  local w, werr = greet.in_language(code)
  if werr ~= nil then error(werr) end
  return w:upper()
end
print(lang_upper, lang_not, lang_assert, lang_raise)

---@async
local function checked_io()
  local data, rerr = fs.read("/tmp/x.txt")
  if rerr then return nil, rerr:kind() end
  local db, oerr = sql.open(":memory:")
  if not db then return nil, oerr end
  local rows, qerr = db:query("SELECT 1 AS x")
  if qerr then error(qerr) end
  local resp = assert(http.get("http://127.0.0.1:1/", 100))
  return data:upper(), #rows, resp.status
end
print(coroutine.wrap(checked_io))
