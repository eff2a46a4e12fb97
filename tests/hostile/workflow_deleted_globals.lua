-- A workflow that deletes its own `os`, `package` or `require` finds the
-- workflow versions again, never the wall clock.
os, package, require, load = nil, nil, nil, nil
assert(os.time == nil and os.clock == nil and os.date == nil and os.getenv == nil,
  "the wall clock came back")
assert(package.loaded.os.time == nil, "package.loaded gives the clock")
assert(require("os").time == nil, "require gives the clock")
assert(load == nil, "a raw loader came back")
return "refused"
