-- Two copies of luamod in one interpreter, as two LuaRocks packages built
-- with luamod are: `counter_extra.so` is a copy of `counter.so`, loaded
-- separately (another file), so its `counter_extra` module is bound by its
-- own copy of luamod, while the read-only guards (`rawset`, `next`, ...)
-- are the first copy's.
--   lua5.4 two.lua DIR   (DIR holds counter.so and counter_extra.so)
package.cpath = assert(arg[1]) .. "/?.so;" .. package.cpath
local a = require("counter")
local b = require("counter_extra")
assert(a.add(1, 2) == 3 and b.double(4) == 8)
for name, m in pairs({ counter = a, counter_extra = b }) do
  assert(not pcall(function() m.x = 1 end), name .. " is read-only")
  assert(not pcall(rawset, m, "x", 1), name .. ": rawset refused")
  assert(rawget(m, "x") == nil, name .. ": nothing written")
  assert(next(m) ~= nil, name .. ": next sees the exports")
end
local v, err = a.parse("x")
assert(v == nil and err:kind() == "INVALID")
print("two copies of luamod in one interpreter: ok")
