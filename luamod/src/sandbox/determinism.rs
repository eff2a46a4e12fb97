//! What a workflow sees in place of what differs between runs of the same
//! script: `pairs` and `next` that visit keys in one fixed order, and an
//! `os` whose clocks refuse with a clear error.
//!
//! A workflow is replayed, on another worker, in another process, and must
//! make the same commands each time. Lua's own traversal order depends on
//! string hashes, which Lua seeds per state from the time and addresses,
//! and on where tables and functions were allocated; so a script that
//! yields a command per field of a table would yield them in another
//! order on replay. Here keys are visited in order: booleans (`false`
//! first), then numbers, then strings (byte order). A key of another type
//! (a table, a function) has no order that holds across runs; iterating a
//! table that has one is an error naming it.
//!
//! Strings are in byte order in the C locale, which a Rust program keeps
//! unless it calls `setlocale` (Lua compares strings with `strcoll`).
//!
//! Not covered (documented for workflow authors): the addresses in
//! `tostring` of a table, function, coroutine or userdata and in
//! `string.format("%p")`; weak tables, whose entries go when the collector
//! runs; running out of memory (the limit is per worker state, shared);
//! floating-point results that differ between platforms.

use mlua::{Lua, Table};

/// The deterministic `pairs` and `next`; `...` is Lua's `pairs`, the
/// sandbox's `next` (which sees through frozen tables), `table.sort`,
/// `type`, `error` and `rawget`, captured before any script runs. Their
/// upvalues are these functions only: nothing a process could write is
/// shared through them.
const ORDERED: &str = r#"
local pairs, next, sort, type, error, rawget = ...
-- Lua's own `next` (what `pairs` returns for a plain table).
local raw_next = pairs({})

local function no_order(t)
  return "a workflow visits the keys of a table in a fixed order, and a " .. t
    .. " key has none that holds across runs (use string, number or boolean keys)"
end

-- Booleans (false first), numbers, strings: "boolean" < "number" < "string".
local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "boolean" then return b and not a end
  return a < b
end

-- The keys of `t` in order (and, if `with_values`, its values by key).
-- Each type is sorted by the library's own comparison (no Lua comparator:
-- the sort stays interruptible).
local function ordered_keys(t, level, with_values)
  local nums, strs, values = {}, {}, {}
  local nn, ns, has_false, has_true = 0, 0, false, false
  local k, v = next(t)
  while k ~= nil do
    local tk = type(k)
    if tk == "string" then ns = ns + 1 strs[ns] = k
    elseif tk == "number" then nn = nn + 1 nums[nn] = k
    elseif tk == "boolean" then if k then has_true = true else has_false = true end
    else error(no_order(tk), level) end
    if with_values then values[k] = v end
    k, v = next(t, k)
  end
  sort(nums)
  sort(strs)
  local keys, n = {}, 0
  if has_false then n = n + 1 keys[n] = false end
  if has_true then n = n + 1 keys[n] = true end
  for i = 1, nn do n = n + 1 keys[n] = nums[i] end
  for i = 1, ns do n = n + 1 keys[n] = strs[i] end
  return keys, values, n
end

-- The first key after `k` in the order (the first key if `k` is nil), by
-- one scan. A key cleared since it was visited still has its place, so
-- clearing fields while walking with `next` works as in Lua.
local function ordered_next(t, k)
  if type(t) ~= "table" then
    error("bad argument #1 to 'next' (table expected, got " .. type(t) .. ")", 2)
  end
  local tk = type(k)
  if k ~= nil and tk ~= "boolean" and tk ~= "number" and tk ~= "string" then
    error(no_order(tk), 2)
  end
  local best, best_v
  local key, v = next(t)
  while key ~= nil do
    local t_key = type(key)
    if t_key ~= "boolean" and t_key ~= "number" and t_key ~= "string" then
      error(no_order(t_key), 2)
    end
    if (k == nil or before(k, key)) and (best == nil or before(key, best)) then
      best, best_v = key, v
    end
    key, v = next(t, key)
  end
  if best == nil then return nil end
  return best, best_v
end

local function ordered_pairs(t)
  local f, s, c = pairs(t)
  -- Walked with a `next` (Lua's, the sandbox's, or a `__pairs` that hands
  -- out this one): by key, sorted once. Any other `__pairs`: its own order.
  if f ~= raw_next and f ~= next and f ~= ordered_next then return f, s, c end
  if type(s) ~= "table" then
    error("bad argument #1 to 'for iterator' (table expected, got " .. type(s) .. ")", 2)
  end
  -- A frozen table holds nothing itself and shows its fields through the
  -- sandbox's `next`; they never change, so they are read once. A plain
  -- table may have fields changed or cleared while it is visited (as Lua
  -- allows): they are read as they are now.
  local frozen = raw_next(s) == nil and next(s) ~= nil
  local keys, values, n = ordered_keys(s, 3, frozen)
  local i = 0
  return function()
    while i < n do
      i = i + 1
      local k = keys[i]
      local v
      if frozen then v = values[k] else v = rawget(s, k) end
      if v ~= nil then return k, v end
    end
    return nil
  end, s, nil
end

return ordered_pairs, ordered_next
"#;

/// The `os` functions a workflow is refused, with why.
const CLOCKS: &[&str] = &["clock", "date", "time"];

/// `pairs`, `next` and the refusing clocks, to set in a workflow's
/// globals (and its `os`), from `g`, the sandboxed globals.
pub(crate) struct WorkflowGlobals {
    pub pairs: mlua::Function,
    pub next: mlua::Function,
}

pub(crate) fn workflow_globals(lua: &Lua, g: &Table) -> mlua::Result<WorkflowGlobals> {
    let table: Table = g.raw_get("table")?;
    let (pairs, next) =
        lua.load(ORDERED)
            .set_name("=luamod.workflow")
            .call::<(mlua::Function, mlua::Function)>((
                g.raw_get::<mlua::Function>("pairs")?,
                g.raw_get::<mlua::Function>("next")?,
                table.get::<mlua::Function>("sort")?,
                g.raw_get::<mlua::Function>("type")?,
                g.raw_get::<mlua::Function>("error")?,
                g.raw_get::<mlua::Function>("rawget")?,
            ))?;
    Ok(WorkflowGlobals { pairs, next })
}

/// Fills a workflow's `os` with clocks that refuse: a wall clock reads
/// differently on every replay.
pub(crate) fn refusing_clocks(lua: &Lua, os: &Table) -> mlua::Result<()> {
    let refusing: mlua::Function = lua
        .load(
            "local error = ... return function(name) return function() error('os.' .. name .. \
             ': a workflow has no wall clock (a replay would read another time); read the \
             workflow\\'s own clock (workflow.now() on Temporal)', 2) end end",
        )
        .set_name("=luamod.workflow")
        .call(lua.globals().raw_get::<mlua::Function>("error")?)?;
    for name in CLOCKS {
        os.raw_set(*name, refusing.call::<mlua::Function>(*name)?)?;
    }
    Ok(())
}
