-- The scheduler's sentinel never reaches a script, whatever resume it uses.
local resume = package.loaded.coroutine and package.loaded.coroutine.resume or coroutine.resume
assert(resume == coroutine.resume, "package.loaded holds another coroutine library")
local co = coroutine.create(function() return require("time").now() end)
local ok, v = resume(co)
assert(ok and type(v) == "number", "resume handed out " .. type(v))
local w = coroutine.wrap(function() return require("time").now() end)
assert(type(w()) == "number")
return "refused"
