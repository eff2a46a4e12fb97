-- Every shared table refuses writes by every path, and never hands out a
-- writable inner table.
local function refuses(t, what)
  assert(not pcall(function() t.__planted = 1 end), what .. ": assignment")
  assert(not pcall(rawset, t, "__planted", 1), what .. ": rawset")
  assert(not pcall(setmetatable, t, {}), what .. ": setmetatable")
  local mt = getmetatable(t)
  if type(mt) == "table" then
    assert(not pcall(function() mt.__index = {} end), what .. ": write to its metatable")
    assert(not pcall(rawset, mt, "__index", {}), what .. ": rawset on its metatable")
  end
  -- pairs/next give keys and values, not the table behind the proxy.
  local iter, state = pairs(t)
  if type(state) == "table" then
    assert(not pcall(rawset, state, "__planted", 1), what .. ": the table pairs hands out")
  end
  for k, v in pairs(t) do
    if type(v) == "table" then
      assert(not pcall(rawset, v, "__planted", 1), what .. "." .. tostring(k) .. " is writable")
    end
  end
  assert(rawget(t, "__planted") == nil)
end
for _, name in ipairs({"string", "table", "math", "os", "utf8", "coroutine", "package", "errors"}) do
  refuses(_G[name], name)
end
refuses(package.loaded, "package.loaded")
for name, m in pairs(package.loaded) do
  if type(m) == "table" then refuses(m, "package.loaded." .. name) end
end
refuses(require("greet"), "greet")
-- The string metatable is hidden; strings still index the (frozen) string table.
assert(getmetatable("") == false or getmetatable("") == nil or pcall(rawset, getmetatable(""), "__index", {}) == false)
assert(("x"):upper() == "X")
-- Objects of Rust classes hide their metatables too.
assert(getmetatable(errors.new("x")) == false)
-- package.loaded has no shared _G.
assert(package.loaded._G == nil or package.loaded._G == _G)
-- Own globals are fine.
planted_global = true
return "refused"
