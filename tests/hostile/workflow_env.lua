-- A workflow sees no wall clock, no io, and a seeded random sequence.
assert(io == nil)
assert(os.time == nil and os.clock == nil and os.date == nil, "a wall clock is reachable")
local a, b, c = math.random(1, 1000000), math.random(1, 1000000), math.random()
return a, b, c
