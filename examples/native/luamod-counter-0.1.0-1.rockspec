-- LuaRocks package of this crate: `luarocks --lua-version=5.4 make`
-- builds it with cargo (needs a Rust toolchain) and installs counter.so.
rockspec_format = "3.0"
package = "luamod-counter"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/luamod/luamod.git",
   dir = "luamod/examples/native",
}
description = {
   summary = "A luamod example: a native Lua module written in Rust.",
   license = "MIT OR Apache-2.0",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "command",
   -- CARGO_TARGET_DIR, when set, is where cargo builds (as in CI).
   build_command = "cargo build --release --no-default-features --features module",
   install_command = "mkdir -p $(LIBDIR) && cp \"${CARGO_TARGET_DIR:-target}/release/libcounter.so\" $(LIBDIR)/counter.so",
}
