//! What a process runs: a [`Script`] compiled once by
//! [`Runtime::compile`](super::Runtime::compile), or source text, entered
//! as a whole chunk or at one of its functions with arguments from Rust
//! ([`Entry`]).
//!
//! A script is compiled to Lua bytecode once, on the host's thread, and
//! the bytes are shared by every worker; a spawn loads them (no parsing)
//! into the process's environment. Arguments are a closure that converts
//! the host's values on the worker, inside the process's state: they are
//! never spliced into source text.
//!
//! Owns: compiling and the entry's description. Never: loads bytecode that
//! did not come from `compile` (scripts themselves get text-only `load`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::{IntoLuaMulti, Lua, MultiValue};

use crate::error::{Error, ErrorKind, LuaError};
use crate::ffi::interrupt;
use crate::sandbox::load;

/// A script compiled once, to spawn as often as needed (cheap to clone).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let rt = luamod::Runtime::builder().workers(1).build()?;
/// let script = rt.compile("function add(a, b) return a + b end", "adder")?;
/// let sum: i64 = rt.run(script.call("add", (2, 40))).await?;
/// assert_eq!(sum, 42);
/// # Ok::<(), luamod::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Script(Arc<Compiled>);

struct Compiled {
    /// Unique per compile (a worker caches the loaded script under it).
    id: u64,
    name: String,
    /// A *factory*: called with an environment, it returns a fresh main
    /// function whose globals are that environment. Loaded once per
    /// worker, so a spawn makes a closure instead of undumping bytecode.
    bytecode: Vec<u8>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.0.name)
            .field("bytes", &self.0.bytecode.len())
            .finish()
    }
}

thread_local! {
    /// A bare state that only compiles (creating one per compile would
    /// cost more than most compiles).
    static COMPILER: Lua = Lua::new();
}

impl Script {
    /// Compiles `source`; a syntax error is reported now, with the line
    /// (`name:LINE: message`). The parse is fed in pieces and given up
    /// past `limit` (Lua's parser is quadratic on some texts).
    pub(crate) fn compile(source: &str, name: &str, limit: Duration) -> Result<Script, Error> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        // A limit too far to reach (`Duration::MAX`) is no limit.
        let deadline = Instant::now().checked_add(limit);
        let chunkname = format!("={name}");
        let bytecode = COMPILER.with(|lua| -> mlua::Result<Vec<u8>> {
            let _deadline = deadline.map(interrupt::Deadline::set);
            // The source alone first: its syntax errors read as the
            // script's, and a complete chunk cannot reach past the
            // wrapper below (its blocks are balanced; the wrapper's `end`
            // is on a line of its own, past any comment).
            load::compile_text(lua, source, &chunkname)?;
            // The factory: the prefix shares the first line, so line
            // numbers stay the script's.
            let wrapped = format!("local _ENV = ... return function(...) {source}\nend");
            let f = load::compile_text(lua, &wrapped, &chunkname)?;
            // Debug information kept: tracebacks show the script's lines.
            Ok(f.dump(false))
        });
        let bytecode = match bytecode {
            Ok(b) => b,
            // What the reader raises when the deadline has passed.
            Err(mlua::Error::SyntaxError { message, .. }) if message == load::STOPPED => {
                return Err(Error::from_lua_error(LuaError::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "compiling '{name}' took longer than {limit:?} (the runtime's \
                         unyielding limit); it was given up"
                    ),
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Script(Arc::new(Compiled {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.to_owned(),
            bytecode,
        })))
    }

    /// Unique per compile.
    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// The name given at compile time (the chunk name in messages).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The bytecode (for the worker's loader).
    pub(crate) fn bytecode(&self) -> &[u8] {
        &self.0.bytecode
    }

    /// Runs the whole chunk with `args` as its `...`.
    pub fn with_args(&self, args: impl IntoLuaMulti + Send + 'static) -> Entry {
        Entry {
            code: Code::Script(self.clone()),
            function: None,
            args: Some(Box::new(move |lua| args.into_lua_multi(lua))),
        }
    }

    /// Runs the chunk, then calls its function `function` with `args`: a
    /// field of the table the chunk returns, else a global the chunk
    /// defined. The process's result is that function's.
    pub fn call(&self, function: &str, args: impl IntoLuaMulti + Send + 'static) -> Entry {
        Entry {
            code: Code::Script(self.clone()),
            function: Some(function.to_owned()),
            args: Some(Box::new(move |lua| args.into_lua_multi(lua))),
        }
    }
}

/// Converts a process's arguments on its worker.
pub(crate) type Args = Box<dyn FnOnce(&Lua) -> mlua::Result<MultiValue> + Send>;

/// Where a process starts: source text or a [`Script`], as a whole chunk
/// or at one of its functions, with arguments. `&str`, `String` and
/// `&Script` convert into one (the whole chunk, no arguments).
pub struct Entry {
    pub(crate) code: Code,
    pub(crate) function: Option<String>,
    pub(crate) args: Option<Args>,
}

pub(crate) enum Code {
    Source(String),
    Script(Script),
}

impl From<&str> for Entry {
    fn from(source: &str) -> Entry {
        Entry {
            code: Code::Source(source.to_owned()),
            function: None,
            args: None,
        }
    }
}

impl From<&String> for Entry {
    fn from(source: &String) -> Entry {
        Entry::from(source.as_str())
    }
}

impl From<String> for Entry {
    fn from(source: String) -> Entry {
        Entry {
            code: Code::Source(source),
            function: None,
            args: None,
        }
    }
}

impl From<&Script> for Entry {
    fn from(script: &Script) -> Entry {
        Entry {
            code: Code::Script(script.clone()),
            function: None,
            args: None,
        }
    }
}

impl From<Script> for Entry {
    fn from(script: Script) -> Entry {
        Entry {
            code: Code::Script(script),
            function: None,
            args: None,
        }
    }
}
