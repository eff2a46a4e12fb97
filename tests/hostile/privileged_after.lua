-- The privileged process: its own calls work, and no planted code runs.
assert(string.format("%d", 1) == "1", "string.format was replaced")
assert(table.concat({"a", "b"}) == "ab")
assert(tostring(1) == "1")
local v = require("greet").secret("admin")
assert(type(v) == "string", "the privileged process lost its permission")
return "refused"
