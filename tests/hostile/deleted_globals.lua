-- Deleting a global of one's own must only uncover the same sandboxed
-- value again, never the worker's shared globals or Lua's raw loaders.
local names = { "load", "loadfile", "dofile", "_G", "os", "package", "require",
  "string", "print", "collectgarbage", "tostring", "pairs", "setmetatable" }
for _, name in ipairs(names) do _ENV[name] = nil end

-- The loaders are this process's own: once deleted they are gone.
assert(load == nil and loadfile == nil and dofile == nil, "a raw loader came back")
assert(_G == nil, "another global table came back")

-- What comes back is the frozen, sandboxed library.
assert(string.upper("a") == "A")
assert(not pcall(function() string.upper = nil end), "string is writable")
assert(os.execute == nil and os.getenv == nil and os.exit == nil, "full os came back")
assert(require("greet") ~= nil and package.loaded._G == nil)
assert(not pcall(setmetatable, _ENV, {}), "own metatable replaceable")

-- Writes still land in this process only.
planted_global = true
tostring = function() return "pwned" end
return "refused"
