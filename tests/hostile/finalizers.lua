-- A finalizer would run inside whatever process is running when the
-- collector gets to it: processes may not define one.
local ok, err = pcall(setmetatable, {}, { __gc = function() end })
assert(not ok and tostring(err):find("__gc", 1, true), tostring(err))
ok = pcall(setmetatable, {}, { __gc = true })
assert(not ok, "a placeholder __gc was accepted")
-- Adding __gc after the fact never marks the object.
local mt = {}
setmetatable({}, mt)
mt.__gc = function() error("finalizer ran") end
collectgarbage("count")
return "refused"
