-- A workflow that deletes its own `os`, `package` or `require` finds the
-- workflow versions again, never the wall clock.
os, package, require, load = nil, nil, nil, nil
for _, t in ipairs({ os, package.loaded.os, require("os") }) do
  assert(not pcall(t.time) and not pcall(t.clock) and not pcall(t.date) and t.getenv == nil,
    "the wall clock came back")
end
assert(load == nil, "a raw loader came back")
return "refused"
