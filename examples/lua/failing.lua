-- A script that fails, to show how the demo reports Lua errors.
local greet = require("greet")
local function helper(n)
  return greet.chant("la", n)
end
print(helper(2))
print(helper(1.5))
