-- Binary chunks are refused, whole or assembled by a reader; no dump.
assert(string.dump == nil, "string.dump is reachable")
local ok, err = load("\27Lua\84\0\25\147\13\10\26\10", "=bin")
assert(ok == nil and err:find("binary", 1, true), tostring(err))
local pieces = { "\27", "Lua", "\84\0", "junk" }
local i = 0
ok, err = load(function() i = i + 1; return pieces[i] end, "=reader")
assert(ok == nil and err:find("binary", 1, true), tostring(err))
ok, err = load("\27Lua", "=mode", "b")
assert(ok == nil, "mode 'b' was honoured")
-- Text still loads, into this process's globals.
local f = assert(load("x_from_load = 42; return x_from_load"))
assert(f() == 42 and x_from_load == 42)
return "refused"
