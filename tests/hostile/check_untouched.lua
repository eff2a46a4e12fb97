-- Run after replace_for_others.lua: nothing it did is visible here.
assert(("abc"):upper() == "ABC" and string.upper("a") == "A")
assert(require("greet").hello() == "Hello, World!")
assert(errors.is(errors.new{kind = errors.NOT_FOUND}, errors.NOT_FOUND))
assert(shared_marker == nil, "a global of another process is visible")
assert(collectgarbage("count") > 0)
return "refused"
