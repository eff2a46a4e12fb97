-- A guided tour of the example modules. Run it with:
--   cargo run -p luamod-examples -- run examples/lua/tour.lua
local greet = require("greet")

print("== greet")
print(greet.hello())
print(greet.greet("Ann"))
print(greet.greet("Ann", "Howdy"))
print(greet.chant("la", 3, "-"))
print(table.concat({ greet.greet_all("Ann", "Bob") }, " "))

print("== arguments are checked like Lua's own functions")
local ok, msg = pcall(function() return greet.greet() end)
print(msg)
ok, msg = pcall(function() return greet.chant("la", 1.5) end)
print(msg)

print("== operational errors are values")
local word, err = greet.in_language("fr")
print(word, err)
word, err = greet.in_language("xx")
print(word, err:kind(), err:message(), err:retryable())
print("is NOT_FOUND:", errors.is(err, errors.NOT_FOUND))
local wrapped = errors.wrap(err, "greeting the user")
print(tostring(wrapped), wrapped:kind())

print("== module tables are read-only")
ok, msg = pcall(function() greet.hello = nil end)
print(msg)
ok, msg = pcall(rawset, greet, "x", 1)
print(msg)
local names = {}
for k in pairs(greet) do names[#names + 1] = k end
table.sort(names)
print("exports: " .. table.concat(names, ", "))

print("== userdata: buffer objects")
local buffer = require("buffer")
local buf = buffer.Buffer.new("hello")
buf:write(", ", "world", "\n", 42, "\n")
buf.label = "greeting"
print(tostring(buf), "#buf = " .. #buf, "size field = " .. buf.size, "writes = " .. buf.writes)
print(buf:sub(1, 5), buf:sub(-3))
local st = buf:stats()
print("stats: size=" .. st.size .. " lines=" .. st.lines .. " writes=" .. st.writes)
buf:each_line(function(line) print("  line: " .. line) end)
local other = buffer.Buffer.with{ label = "copy", init = buf:contents() }
print("equal contents:", buf == other, tostring(buf .. other))
print(tostring(buffer.join({ buffer.Buffer.new("a"), buffer.Buffer.new("b") }, "+")), buffer.join({ buffer.Buffer.new("a"), buffer.Buffer.new("b") }, "+"):contents())
print(pcall(function() buf.size = 3 end))
print(pcall(function() buf.colour = "red" end))
print(pcall(buf.write, "not a buffer"))
print(pcall(function() buf:each_line(function() buf:write("x") end) end))

print("== permissions: checked before the body runs")
print("running as " .. greet.whoami())
print(greet.secret("Ann"))
local secret, denied = greet.secret("Bob")
print(secret, denied:kind() == errors.PERMISSION_DENIED, denied:message())

print("== time: processes wait without blocking a thread")
local time = require("time")
local t0 = time.now()
time.sleep(20)
local ticker = time.ticker(10)
local ticks = 0
for _ = 1, 3 do
  ticker:wait()
  ticks = ticks + 1
end
ticker:stop()
print("slept and ticked " .. ticks .. " times; at least 50 ms passed: " .. tostring(time.now() - t0 >= 50))
local ok, v = pcall(function() time.sleep(1); return "sleeping inside pcall works" end)
print(ok, v)
local co = coroutine.wrap(function() time.sleep(1); coroutine.yield("and inside coroutines") end)
print(co())

print("== json")
local json = require("json")
local doc = json.decode('{"name": "luamod", "tags": ["lua", "rust"], "parent": null}')
print(doc.name, #doc.tags, doc.parent == json.null)
print(json.encode({ ok = true, list = { 1, 2, 3 } }))
local bad, jerr = json.decode('{"a": }')
print(bad, jerr:kind(), jerr:message())

print("== fs and sql, in the temporary directory the demo's policy allows")
local fs = require("fs")
local sql = require("sql")
local dir = os.getenv("LUAMOD_DEMO_DIR") or "/tmp"
local path = dir .. "/luamod-tour.txt"
print("wrote " .. fs.write(path, "line one\nline two\n") .. " bytes; exists: " .. tostring(fs.exists(path)))
print(#fs.read(path) .. " bytes read back")
fs.remove(path)
local _, fserr = fs.read("/etc/hostname")
print("reading /etc/hostname:", fserr:kind())
local dbpath = dir .. "/luamod-tour.db"
fs.remove(dbpath)
local db = assert(sql.open(dbpath))
db:exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
db:transaction(function()
  db:exec("INSERT INTO notes (body) VALUES (?1)", { "first" })
  time.sleep(1) -- waiting inside a transaction is fine
  db:exec("INSERT INTO notes (body) VALUES (?1)", { "second" })
end)
local rolled, why = db:transaction(function()
  db:exec("INSERT INTO notes (body) VALUES (?1)", { "never seen" })
  error("abandoned")
end)
print("failed transaction:", rolled, why:message())
for _, row in ipairs(db:query("SELECT id, body FROM notes ORDER BY id")) do
  print("  note " .. row.id .. ": " .. row.body)
end
local _, sqlerr = db:exec("INSERT INTO nowhere VALUES (1)")
print("bad SQL:", sqlerr:message())
fs.remove(dbpath)

print("== http_client")
local http = require("http_client")
local url = os.getenv("LUAMOD_DEMO_URL")
if url then
  local resp = assert(http.get(url .. "/hello"))
  print("GET /hello -> " .. resp.status .. " " .. resp.body)
  local _, herr = http.get(url .. "/slow?ms=1000", 50)
  print("slow server:", herr:kind(), "retryable: " .. tostring(herr:retryable()))
else
  print("(skipping HTTP: run the demo with --serve-demo for a loopback server)")
end
print("tour finished")
