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
print("tour finished")
