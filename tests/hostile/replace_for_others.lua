-- Tries to change shared functions for the processes that run after it.
local evil = function() return "pwned" end
pcall(function() string.upper = evil end)
pcall(rawset, string, "upper", evil)
pcall(function() package.loaded.string.upper = evil end)
pcall(function() getmetatable("").__index.upper = evil end)
pcall(function() local _, inner = pairs(string); rawset(inner, "upper", evil) end)
pcall(function() require("greet").hello = evil end)
pcall(function() errors.is = evil end)
pcall(function() coroutine.wrap = evil end)
pcall(function() collectgarbage("stop") end)
shared_marker = "mallory was here"
return "refused"
