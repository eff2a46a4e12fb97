-- luamod base: read-only export tables for Lua 5.x.
--
-- A module's exports live in an inner table that Lua code never sees. Lua
-- sees an empty proxy whose metatable forwards reads (`__index` is the inner
-- table itself, so a call costs one extra table lookup and no function call),
-- `pairs` and `#`, and refuses writes. Because raw access would bypass the
-- metatable, the base also replaces `rawset`, `rawget`, `rawlen`, `next` and
-- `setmetatable` with versions that know the proxies. `debug` is not loaded
-- in luamod states; with it, `debug.setmetatable` would still bypass this.
local raw_set, raw_get, raw_len, raw_next, set_mt, err, fmt = ...

local inner_of = set_mt({}, { __mode = "k" })
local name_of = set_mt({}, { __mode = "k" })

local function refuse(t, level)
  err(fmt("attempt to modify read-only table '%s'", name_of[t]), level + 1)
end

local function freeze(name, inner)
  local proxy, locked = {}, {}
  set_mt(locked, {
    __newindex = function(t) refuse(t, 2) end,
    __metatable = false,
  })
  set_mt(proxy, {
    __index = inner,
    __newindex = function(t) refuse(t, 2) end,
    __pairs = function() return raw_next, inner, nil end,
    __len = function() return raw_len(inner) end,
    __metatable = locked,
  })
  inner_of[proxy], name_of[proxy] = inner, name
  inner_of[locked], name_of[locked] = {}, "metatable of " .. name
  return proxy
end

rawset = function(t, k, v)
  if inner_of[t] then refuse(t, 2) end
  local r = raw_set(t, k, v)
  return r
end

setmetatable = function(t, mt)
  if inner_of[t] then refuse(t, 2) end
  local r = set_mt(t, mt)
  return r
end

rawget = function(t, k)
  local r = raw_get(inner_of[t] or t, k)
  return r
end

rawlen = function(t)
  local r = raw_len(inner_of[t] or t)
  return r
end

next = function(t, k)
  local nk, nv = raw_next(inner_of[t] or t, k)
  return nk, nv
end

return freeze
