//! The luamod demo host: runs Lua scripts against the example modules.
//!
//! ```text
//! luamod-examples run FILE.lua
//! luamod-examples modules
//! luamod-examples stubs --out DIR [--format luals|luau|json|markdown|all]
//! ```

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: luamod-examples run FILE.lua\n       luamod-examples modules\n       \
         luamod-examples stubs --out DIR [--format luals|luau|json|markdown|all]"
    );
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
        ["stubs", rest @ ..] => stubs(rest),
        _ => usage(),
    }
}

fn stubs(args: &[&str]) -> ExitCode {
    let mut out: Option<&str> = None;
    let mut format = luamod::stubs::Format::All;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (*a, it.next()) {
            ("--out", Some(dir)) => out = Some(dir),
            ("--format", Some(f)) => match f.parse() {
                Ok(f) => format = f,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            },
            _ => return usage(),
        }
    }
    let Some(out) = out else {
        return usage();
    };
    match luamod::stubs::write(&luamod_examples::all(), format, out.as_ref()) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write stubs to {out}: {e}");
            ExitCode::FAILURE
        }
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
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio.block_on(async {
        // Security is explicit: the demo's processes act for the actor
        // "demo", which may ask `greet.secret` for Ann but not for anyone
        // else (nothing allows it, so it is denied).
        let mut builder = luamod::Runtime::builder()
            .workers(1)
            .actor(luamod::Actor::new("demo"))
            .policy(luamod::Policy::allow("greet.secret").on("Ann"))
            .policy(luamod::Policy::allow("greet.whoami"));
        for m in luamod_examples::all() {
            builder = builder.module(m);
        }
        let rt = match builder.build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let opts = luamod::SpawnOptions {
            name: Some(file.to_owned()),
            ..Default::default()
        };
        let result = rt.run_with::<()>(&src, opts).await;
        rt.shutdown(std::time::Duration::from_secs(1)).await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}
