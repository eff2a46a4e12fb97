//! The luamod demo host: runs Lua scripts against the example modules.
//!
//! ```text
//! luamod-examples run FILE.lua
//! luamod-examples modules
//! ```

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: luamod-examples run FILE.lua | modules");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["run", file] => run(file),
        ["modules"] => {
            for m in luamod_examples::all() {
                let classes: Vec<&str> = m.classes().iter().map(|c| c.as_str()).collect();
                println!("{} [{}]", m.name, classes.join(", "));
                for f in m.functions {
                    println!("  {}.{}", m.name, f.name);
                }
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}

fn run(file: &str) -> ExitCode {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let lua = match luamod::lua_with(&luamod_examples::all()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot set up Lua: {e}");
            return ExitCode::FAILURE;
        }
    };
    match lua.load(&src).set_name(format!("@{file}")).exec() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
