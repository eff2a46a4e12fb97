-- Run by the system interpreter against the loadable build of this crate:
--   lua5.4 test.lua DIR   (DIR holds counter.so)
-- and in-process by `tests/lua.rs` (the module already bound, any VM the
-- crate is built for). Raises on the first failed check.
local dir = arg and arg[1]
if dir then package.cpath = dir .. "/?.so;" .. package.cpath end

local checks = 0
local function check(cond, what)
  checks = checks + 1
  if not cond then error("FAILED: " .. what, 0) end
end
local function fails(f, ...)
  local ok, err = pcall(f, ...)
  return not ok and tostring(err) or nil
end

local counter = require("counter")
check(require("counter") == counter, "require returns the same table")

-- Exports and argument checking, worded as the interpreter's own library.
check(counter.add(2, 3) == 5, "add")
-- The same wording as the VM's own library gives for the same mistake
-- (the function's name aside: each VM finds its own differently).
local _, lib = pcall(string.rep, "x", "y")
local ours = fails(counter.add, 1, "y")
local function unnamed(msg) return (msg:gsub("to '[^']*'", "to F")) end
check(ours and ours:find("to 'counter.add'", 1, true) and unnamed(ours) == unnamed(lib),
  "argument error: " .. tostring(ours) .. " (Lua says: " .. tostring(lib) .. ")")
check(fails(counter.add, 1) ~= nil, "missing argument")
check(fails(counter.add, 1.5, 2):find("number has no integer representation", 1, true),
  "float without integer representation")

-- The export table is read-only.
check(fails(function() counter.add = nil end) ~= nil, "module table is read-only")
check(fails(function() rawset(counter, "x", 1) end) ~= nil, "rawset is refused too")
check(counter.add(1, 1) == 2, "still there")
-- pairs and next see the exports through the read-only proxy.
local names = {}
for k in pairs(counter) do names[#names + 1] = k end
table.sort(names)
check(table.concat(names, ",") == "Counter,add,boom,later,parse", "pairs: " .. table.concat(names, ","))
check(next(counter) ~= nil, "next")

-- Operational errors are values; the errors module is there.
local v, err = counter.parse("12")
check(v == 12 and err == nil, "parse ok")
v, err = counter.parse("twelve")
check(v == nil and err:kind() == "INVALID" and err:kind() == errors.INVALID, "parse error kind")
check(err:message():find("not an integer", 1, true), "parse error message")
check(require("errors") == errors, "errors module")

-- A Rust panic is a Lua error; the interpreter goes on.
local boom = fails(counter.boom)
check(boom and boom:find("panic", 1, true), "panic surfaces as an error: " .. tostring(boom))
check(counter.add(0, 1) == 1, "alive after a panic")

-- Userdata: methods, self checks, a hidden metatable.
local c = counter.Counter.new(5)
check(c:add(2) == 7 and c:get() == 7, "methods")
check(counter.Counter.new():get() == 0, "optional argument")
check(fails(c.add, {}, 1) ~= nil, "bad self")
check(getmetatable(c) == false, "metatable hidden")

-- Yields need a luamod runtime: a clear error here, not a crash.
local later = fails(counter.later, 1)
check(later and later:find("luamod process", 1, true), "yield outside a runtime: " .. tostring(later))

collectgarbage()
print(("native module: %d checks passed on %s"):format(checks, _VERSION))
