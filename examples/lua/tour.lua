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
print("tour finished")
