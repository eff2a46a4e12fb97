-- No io, no dangerous os functions, no file loading, no native code.
assert(io == nil, "io is reachable")
for _, name in ipairs({"execute", "remove", "rename", "getenv", "exit", "tmpname", "setlocale"}) do
  assert(os[name] == nil, "os." .. name .. " is reachable")
end
assert(type(os.time) == "function" and type(os.clock) == "function")
assert(type(os.date) == "function" and type(os.difftime) == "function")
assert(loadfile == nil and dofile == nil, "file loading is reachable")
assert(debug == nil, "debug is reachable")
assert(package.loadlib == nil, "package.loadlib is reachable")
-- require finds bound modules only: no file searchers, no C loaders.
local ok, err = pcall(require, "tests.hostile.evil")
assert(not ok and err:find("module 'tests.hostile.evil' not found", 1, true), tostring(err))
ok, err = pcall(require, "io")
assert(not ok, "require('io') gave the io library")
ok, err = pcall(require, "debug")
assert(not ok, "require('debug') gave the debug library")
-- Through package.loaded too.
for name in pairs({io = 1, debug = 1, os = 1}) do
  local lib = package.loaded[name]
  assert(lib == nil or lib == os, "package.loaded." .. name .. " leaks a library")
end
assert(package.loaded.os == nil or package.loaded.os.execute == nil)
-- Writing a file through any of it fails.
ok = pcall(function() return io.open(TMP .. "/written", "w") end)
assert(not ok)
return "refused"
