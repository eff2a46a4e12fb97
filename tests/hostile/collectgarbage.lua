-- Only what cannot affect other processes.
assert(type(collectgarbage("count")) == "number")
for _, opt in ipairs({"stop", "restart", "collect", "step", "incremental", "generational", "setpause", "setstepmul"}) do
  local ok, err = pcall(collectgarbage, opt)
  assert(not ok and tostring(err):find("not available", 1, true), opt .. ": " .. tostring(err))
end
return "refused"
