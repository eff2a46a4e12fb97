-- Run with: cargo run -p luamod-examples -- run examples/lua/policy.lua --policy examples/policies/readonly.json
local greet = require("greet")
print("running as " .. greet.whoami())
print(greet.secret("Ann"))
print(select(2, greet.secret("Mallory")):message())
local _, err = require("fs").write("/tmp/luamod-policy-demo.txt", "x")
print(err:kind(), err:message())
