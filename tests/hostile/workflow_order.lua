-- A workflow visits table keys in one order on every run: booleans, then
-- numbers, then strings, each in order; Lua's own order depends on the
-- state's hash seed and on addresses.
local function keys(iter, t)
  local out = {}
  for k in iter(t) do out[#out + 1] = tostring(k) end
  return table.concat(out, " ")
end
local t = { zeta = 1, alpha = 2, [10] = 3, [2.5] = 4, [true] = 5, [false] = 6, mid = 7, [1] = 8 }
local seen = keys(pairs, t)
assert(seen == "false true 1 2.5 10 alpha mid zeta", seen)

-- `next` walks the same order, from any key.
local walked, k = {}, next(t)
while k ~= nil do walked[#walked + 1] = tostring(k); k = next(t, k) end
assert(table.concat(walked, " ") == seen, table.concat(walked, " "))
assert(next({}) == nil)
assert(select(2, next(t, "mid")) == 1, "next(t, k) gives the following value")
assert(not pcall(next, t, "no such key"))

-- Fields may be changed or cleared while the table is visited.
local c = { a = 1, b = 2, c = 3 }
local got = {}
for k, v in pairs(c) do
  got[#got + 1] = k .. "=" .. v
  if k == "a" then c.b = nil; c.c = 30 end
end
assert(table.concat(got, " ") == "a=1 c=30", table.concat(got, " "))

-- Frozen tables (modules) are visited in order too.
local names = keys(pairs, require("greet"))
local sorted = {}
for name in names:gmatch("%S+") do sorted[#sorted + 1] = name end
table.sort(sorted)
assert(names == table.concat(sorted, " "), names)

-- A table's own `__pairs` keeps its own order.
local own = setmetatable({}, { __pairs = function()
  local i = 0
  return function() i = i + 1; if i <= 3 then return 4 - i, i end end
end })
assert(keys(pairs, own) == "3 2 1")

-- A key with no order that holds across runs is refused, by name.
local ok, err = pcall(function() for _ in pairs({ [{}] = 1 }) do end end)
assert(not ok and tostring(err):find("a table key has none", 1, true), tostring(err))
ok, err = pcall(next, { [print] = 1 })
assert(not ok and tostring(err):find("a function key has none", 1, true), tostring(err))
return seen
