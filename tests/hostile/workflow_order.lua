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
-- Clearing fields while walking with `next`, as Lua allows.
local d = { a = 1, b = 2, c = 3, [4] = 4 }
local k2 = next(d)
while k2 ~= nil do
  local following = next(d, k2)
  d[k2] = nil
  k2 = following
end
assert(next(d) == nil, "every field was cleared")
local e = { x = 1, y = 2, z = 3 }
for k in next, e do e[k] = nil end
assert(next(e) == nil, "for k in next, t do t[k] = nil end clears the table")

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

-- A `__pairs` that hands out `next` walks by key, over a plain table or a
-- frozen one.
local data = { b = 2, a = 1, c = 3 }
local wrapped = setmetatable({}, { __pairs = function() return next, data end })
assert(keys(pairs, wrapped) == "a b c", keys(pairs, wrapped))
local over_frozen = setmetatable({}, { __pairs = function() return next, require("greet") end })
assert(keys(pairs, over_frozen) == names, keys(pairs, over_frozen))
local vals = {}
for _, v in pairs(wrapped) do vals[#vals + 1] = v end
assert(table.concat(vals, " ") == "1 2 3")

-- A key with no order that holds across runs is refused, by name.
local ok, err = pcall(function() for _ in pairs({ [{}] = 1 }) do end end)
assert(not ok and tostring(err):find("a table key has none", 1, true), tostring(err))
ok, err = pcall(next, { [print] = 1 })
assert(not ok and tostring(err):find("a function key has none", 1, true), tostring(err))
ok, err = pcall(next, { 1 }, {})
assert(not ok and tostring(err):find("a table key has none", 1, true), tostring(err))
-- Not a table: an argument error at the caller's line.
ok, err = pcall(function() for _ in pairs(nil) do end end)
assert(not ok and tostring(err):find("table expected, got nil", 1, true), tostring(err))
ok, err = pcall(next, 5)
assert(not ok and tostring(err):find("bad argument #1 to 'next' (table expected, got number)", 1, true), tostring(err))
-- A large table is visited in order (the sort is the library's own).
local big, n = {}, 0
for i = 1, 20000 do big["k" .. i] = i end
local prev
for k in pairs(big) do
  assert(prev == nil or prev < k, "out of order")
  prev = k
  n = n + 1
end
assert(n == 20000)
return seen
