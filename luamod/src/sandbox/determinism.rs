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
//! Not covered (documented for workflow authors): the addresses in
//! `tostring` of a table or function and in `string.format("%p")`, and
//! weak tables, whose entries go when the collector runs.

use mlua::{Lua, Table};

/// The deterministic `pairs` and `next`; `...` is Lua's `pairs`, the
/// sandbox's `next` (which sees through frozen tables), `table.sort`,
/// `rawget`, `type` and `error`, captured before any script runs.
const ORDERED: &str = r#"
local pairs, next, sort, rawget, type, error = ...
-- Lua's own `next` (what `pairs` returns for a plain table).
local raw_next = pairs({})
local rank = { boolean = 1, number = 2, string = 3 }

local function before(a, b)
  local ra, rb = rank[type(a)], rank[type(b)]
  if ra ~= rb then return ra < rb end
  if ra == 1 then return b and not a end
  return a < b
end

-- The keys of `t` in order, and its values by key.
local function sorted(t, level)
  local keys, values, n = {}, {}, 0
  local k, v = next(t)
  while k ~= nil do
    if not rank[type(k)] then
      error("a workflow visits the keys of a table in a fixed order, and a " .. type(k)
        .. " key has none that holds across runs (use string, number or boolean keys)", level)
    end
    n = n + 1
    keys[n] = k
    values[k] = v
    k, v = next(t, k)
  end
  sort(keys, before)
  return keys, values, n
end

local function ordered_pairs(t)
  local f, s, c = pairs(t)
  -- A table whose `__pairs` is its own: its own order.
  if f ~= raw_next and f ~= next then return f, s, c end
  local keys, values, n = sorted(s, 3)
  -- A plain table may have fields changed or cleared while it is visited
  -- (as Lua allows): read them as they are now. A frozen table cannot.
  local live = f == raw_next
  local i = 0
  return function()
    while i < n do
      i = i + 1
      local k = keys[i]
      local v
      if live then v = rawget(s, k) else v = values[k] end
      if v ~= nil then return k, v end
    end
    return nil
  end, s, nil
end

local function ordered_next(t, k)
  local keys, values, n = sorted(t, 3)
  local i = 1
  if k ~= nil then
    local lo, hi = 1, n
    i = nil
    while lo <= hi do
      local mid = (lo + hi) // 2
      local m = keys[mid]
      if m == k then i = mid + 1 break end
      if before(m, k) then lo = mid + 1 else hi = mid - 1 end
    end
    if not i then error("invalid key to 'next'", 2) end
  end
  local key = keys[i]
  if key == nil then return nil end
  return key, values[key]
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
                g.raw_get::<mlua::Function>("rawget")?,
                g.raw_get::<mlua::Function>("type")?,
                g.raw_get::<mlua::Function>("error")?,
            ))?;
    Ok(WorkflowGlobals { pairs, next })
}

/// Fills a workflow's `os` with clocks that refuse: a wall clock reads
/// differently on every replay.
pub(crate) fn refusing_clocks(lua: &Lua, os: &Table) -> mlua::Result<()> {
    for name in CLOCKS {
        let msg = format!(
            "os.{name}: a workflow has no wall clock (a replay would read another time); \
             read the workflow's own clock (workflow.now() on Temporal)"
        );
        let refuse: mlua::Function = lua
            .load("local msg, error = ... return function() error(msg, 2) end")
            .set_name("=luamod.workflow")
            .call((msg, lua.globals().raw_get::<mlua::Function>("error")?))?;
        os.raw_set(*name, refuse)?;
    }
    Ok(())
}
