-- A workflow sees no wall clock, no io, nothing that differs between runs,
-- and a random sequence the host seeded.
assert(io == nil)
assert(os.time == nil and os.clock == nil and os.date == nil, "a wall clock is reachable")
assert(require("os").time == nil, "require('os') gives the clock")
assert(package.loaded.os.time == nil, "package.loaded.os gives the clock")
assert(not pcall(collectgarbage, "count"), "memory use is visible")
local ok, err = pcall(math.randomseed)
assert(not ok and tostring(err):find("needs a seed", 1, true), tostring(err))
local a, b, c = math.random(1, 1000000), math.random(1, 1000000), math.random()
return a, b, c
