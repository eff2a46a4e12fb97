//! The luamod demo host: runs Lua scripts as runtime processes against the
//! example modules, writes their stubs, and lists them.
//!
//! ```text
//! luamod-examples run FILE.lua [--context process|workflow] [--policy FILE] [--serve-demo]
//!                              [--deadline DURATION] [--memory-limit SIZE]
//! luamod-examples stubs --out DIR [--format luals|luau|json|markdown|all]
//! luamod-examples modules
//! ```

mod policy_file;

use std::process::ExitCode;
use std::time::Duration;

use luamod::{Actor, ContextKind, Policy, Runtime, SpawnOptions};

const USAGE: &str = "usage:
  luamod-examples run FILE.lua [--context process|workflow] [--policy FILE] [--serve-demo]
                               [--deadline DURATION] [--memory-limit SIZE]
      --deadline      stop the script after this long: 500ms, 30s, 0 for none (default 30s)
      --memory-limit  the most memory the script's Lua state holds: 64M, 1G, 0 for none
                      (default 256M)
  luamod-examples stubs --out DIR [--format luals|luau|json|markdown|all]
  luamod-examples modules";

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["run", file, rest @ ..] => run(file, rest),
        ["modules"] => {
            modules();
            ExitCode::SUCCESS
        }
        ["stubs", rest @ ..] => stubs(rest),
        _ => usage(),
    }
}

fn modules() {
    use std::io::Write;
    // Written through a locked handle, ignoring a closed pipe (`| head`).
    let mut out = std::io::stdout().lock();
    macro_rules! println {
        ($($t:tt)*) => {{ let _ = writeln!(out, $($t)*); }};
    }
    for m in luamod_examples::all() {
        let classes: Vec<&str> = m.classes().iter().map(|c| c.as_str()).collect();
        println!("{} [{}]", m.name, classes.join(", "));
        if !m.description.is_empty() {
            println!("  {}", m.description.lines().next().unwrap_or(""));
        }
        for f in m.functions {
            let perm = match f.permission {
                Some((action, "")) => format!("  (permission {action})"),
                Some((action, res)) => format!("  (permission {action} on {res})"),
                None => String::new(),
            };
            println!("  fn {}.{}{perm}", m.name, f.name);
        }
        for c in m.constants {
            println!("  const {}.{}", m.name, c.name);
        }
        for class in m.userdata {
            let methods: Vec<&str> = class.items.methods.iter().map(|f| f.name).collect();
            println!(
                "  userdata {} (methods: {})",
                class.name,
                methods.join(", ")
            );
        }
        let commands = m
            .commands
            .iter()
            .chain(m.userdata.iter().flat_map(|c| c.items.commands.iter()));
        for c in commands {
            println!("  command {} ({})", c.id, c.name);
        }
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

struct RunOptions {
    context: ContextKind,
    policy: Option<String>,
    serve: bool,
    deadline: Option<Duration>,
    memory_limit: Option<usize>,
}

/// `500ms`, `30s`, `2m` or `0` (none).
fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let bad = || format!("--deadline takes a duration like 500ms, 30s or 2m (0: none), not {s:?}");
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "" if n == 0 => return Ok(None),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok((!d.is_zero()).then_some(d))
}

/// `64M`, `1G`, `512K`, a number of bytes, or `0` (none).
fn parse_size(s: &str) -> Result<Option<usize>, String> {
    let bad = || format!("--memory-limit takes a size like 64M or 1G (0: none), not {s:?}");
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: usize = n.parse().map_err(|_| bad())?;
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return Err(bad()),
    };
    let bytes = n.checked_mul(1 << shift).ok_or_else(bad)?;
    Ok((bytes > 0).then_some(bytes))
}

fn parse_run_options(args: &[&str]) -> Result<RunOptions, String> {
    let mut o = RunOptions {
        context: ContextKind::Process,
        policy: None,
        serve: false,
        deadline: Some(Duration::from_secs(30)),
        memory_limit: Some(256 << 20),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--context" => {
                o.context = match it.next() {
                    Some(&"process") => ContextKind::Process,
                    Some(&"workflow") => ContextKind::Workflow,
                    other => {
                        return Err(format!(
                            "--context takes process or workflow, not {other:?}"
                        ));
                    }
                }
            }
            "--policy" => o.policy = Some(it.next().ok_or("--policy takes a file")?.to_string()),
            "--serve-demo" => o.serve = true,
            "--deadline" => {
                o.deadline = parse_duration(it.next().ok_or("--deadline takes a duration")?)?
            }
            "--memory-limit" => {
                o.memory_limit = parse_size(it.next().ok_or("--memory-limit takes a size")?)?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// The demo's own policy when no `--policy` file is given: visible in code,
/// narrow, and enough for the tour (and nothing else).
fn default_security(temp: &str) -> (Actor, Vec<Policy>) {
    (
        Actor::new("demo"),
        vec![
            Policy::allow("greet.secret").on("Ann"),
            Policy::allow("greet.whoami"),
            Policy::allow(["fs.read", "fs.write"]).on(format!("{temp}/luamod-tour*").as_str()),
            Policy::allow("sql.open").on(format!("{temp}/luamod-tour*").as_str()),
            Policy::allow("http_client.request").on(["http://127.0.0.1:*", "http://localhost:*"]),
        ],
    )
}

fn run(file: &str, args: &[&str]) -> ExitCode {
    let opts = match parse_run_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let temp = std::env::temp_dir().display().to_string();
    let temp = temp.trim_end_matches('/').to_owned();
    let (actor, policies) = match &opts.policy {
        Some(path) => match policy_file::load(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => default_security(&temp),
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
        // SAFETY: set_var is unsafe in edition 2024 because other threads
        // may read the environment concurrently; the tokio pool is idle and
        // no worker exists yet, and nothing else reads these variables.
        unsafe { std::env::set_var("LUAMOD_DEMO_DIR", &temp) };
        if opts.serve {
            match luamod_examples::demo_server::start().await {
                // SAFETY: as above.
                Ok(url) => unsafe { std::env::set_var("LUAMOD_DEMO_URL", url) },
                Err(e) => eprintln!("cannot start the demo server: {e}"),
            }
        }
        let mut builder = Runtime::builder()
            .workers(1)
            .context(opts.context)
            // The strict sandbox, plus one capability: the tour reads
            // LUAMOD_DEMO_DIR to know where it may write.
            .sandbox(luamod::Sandbox::default().allow_env())
            .actor(actor);
        for p in policies {
            builder = builder.policy(p);
        }
        if let Some(bytes) = opts.memory_limit {
            builder = builder.memory_limit(bytes);
        }
        let mut left_out: Vec<&str> = Vec::new();
        for m in luamod_examples::all() {
            if m.admit(opts.context).is_ok() {
                builder = builder.module(m);
            } else {
                left_out.push(m.name);
            }
        }
        if !left_out.is_empty() {
            eprintln!(
                "note: a {:?} context binds no module of class nondeterministic, io, network, storage, time or process; not bound: {}",
                opts.context,
                left_out.join(", ")
            );
        }
        let rt = match builder.build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let spawn = SpawnOptions {
            name: Some(file.to_owned()),
            deadline: opts.deadline,
            ..Default::default()
        };
        let result = rt.run_with::<()>(&src, spawn).await;
        rt.shutdown(Duration::from_secs(1)).await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report(file, &src, &e);
                ExitCode::FAILURE
            }
        }
    })
}

/// Prints the Lua error, the source line it points at, and the traceback.
fn report(file: &str, src: &str, e: &luamod::Error) {
    eprintln!("error: {}", e.message());
    let prefix = format!("{file}:");
    if let Some(rest) = e.message().strip_prefix(&prefix)
        && let Some((line, _)) = rest.split_once(':')
        && let Ok(n) = line.parse::<usize>()
        && let Some(text) = src.lines().nth(n.saturating_sub(1))
    {
        eprintln!("  --> {file}:{n}\n   |\n{n:>3} | {text}\n   |");
    }
    if let Some(tb) = e.traceback() {
        eprintln!("{tb}");
    }
}
