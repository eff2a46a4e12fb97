-- Wrong uses. Each line ending in an arrow comment and a code must get
-- exactly that diagnostic from emmylua_check; no other line may get any.
local greet = require("greet")
local buffer = require("buffer")

greet.greet(42) --> param-type-mismatch
greet.greet() --> missing-parameter
greet.hello("extra") --> redundant-parameter
greet.goodbye() --> undefined-field
greet.chant("x", "three") --> param-type-mismatch
---@type integer
local n = greet.hello() --> assign-type-mismatch
local buf = buffer.Buffer.new("x")
buf:sub("one") --> param-type-mismatch
buf:nope() --> undefined-field
buf.contents() --> missing-parameter
buffer.join("a") --> param-type-mismatch
buffer.Buffer.new("x", "y") --> redundant-parameter
local _, err = greet.in_language("xx")
if err then
  err:kind(1) --> redundant-parameter
end
errors.wrap() --> missing-parameter
errors.new(5) --> param-type-mismatch
---@type string
local s = buf:write("a") --> assign-type-mismatch
print(n, s)
local time = require("time")
local function not_async()
  time.sleep(5) --> await-in-sync
end
---@async
local function waits()
  time.sleep("soon") --> param-type-mismatch
end
local json = require("json")
json.encode({}, { pretty = "yes" }) --> param-type-mismatch
local http = require("http_client")
---@async
local function fetches()
  http.request({ method = "GET" }) --> missing-fields, param-type-mismatch
  local r = http.get("http://x")
  if r then
    local line = r.status .. r.nothing --> undefined-field
    print(line)
  end
end
print(not_async, waits, fetches)
-- The `v, err` convention used without the check.
local word, werr = greet.in_language("fr")
print(word:upper()) --> need-check-nil, param-type-mismatch
print(werr:message()) --> need-check-nil
local fs = require("fs")
---@async
local function unchecked()
  local data = fs.read("/tmp/x")
  print(data:upper()) --> need-check-nil, param-type-mismatch
end
print(unchecked)
