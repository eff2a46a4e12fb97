-- A workflow sees no wall clock, no io, nothing that differs between runs,
-- and a random sequence the host seeded.
assert(io == nil)
-- Every way to `os` gives clocks that refuse, saying why.
local function refuses(os_table, where)
  for _, name in ipairs({ "time", "clock", "date" }) do
    local ok, err = pcall(os_table[name])
    assert(not ok and tostring(err):find("a workflow has no wall clock", 1, true),
      where .. "." .. name .. " read a clock: " .. tostring(err))
  end
end
refuses(os, "os")
refuses(require("os"), "require('os')")
refuses(package.loaded.os, "package.loaded.os")
assert(not pcall(collectgarbage, "count"), "memory use is visible")
local ok, err = pcall(math.randomseed)
assert(not ok and tostring(err):find("needs a seed", 1, true), tostring(err))
local a, b, c = math.random(1, 1000000), math.random(1, 1000000), math.random()
return a, b, c
