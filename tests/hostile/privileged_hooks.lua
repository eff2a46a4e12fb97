-- An unprivileged process plants code where a privileged one might run it,
-- then checks that its own permission-checked call is still refused.
local planted = 0
local function plant() planted = planted + 1; return require("greet").secret("mallory") end
pcall(function() string.format = plant end)
pcall(function() table.concat = plant end)
pcall(function() setmetatable({}, { __gc = plant }) end)
pcall(function() tostring = plant end) -- own global: only this process sees it
local v, err = require("greet").secret("mallory")
assert(v == nil and err:kind() == errors.PERMISSION_DENIED, "mallory got the secret")
return "refused"
