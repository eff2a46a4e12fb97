//! [`Sandbox`]: the capabilities a host opts in to.

use std::fmt;
use std::sync::Arc;

/// Where `print` goes.
pub type PrintHook = Arc<dyn Fn(&str) + Send + Sync>;

/// What sandboxed code may use beyond the safe core. The default allows
/// nothing more; each method opts in to one capability.
///
/// ```
/// let strict = luamod::Sandbox::default();
/// let trusted_scripts = luamod::Sandbox::default()
///     .allow_file_loading()
///     .print_to(|line| eprintln!("[script] {line}"));
/// # let _ = (strict, trusted_scripts);
/// ```
#[derive(Clone, Default)]
pub struct Sandbox {
    pub(crate) io: bool,
    pub(crate) env: bool,
    pub(crate) file_loading: bool,
    pub(crate) binary_chunks: bool,
    pub(crate) gc_control: bool,
    pub(crate) finalizers: bool,
    pub(crate) print: Option<PrintHook>,
}

impl Sandbox {
    /// The strict sandbox (the default).
    pub fn strict() -> Self {
        Self::default()
    }

    /// The `io` library and the `os` functions that touch files and
    /// processes (`execute`, `remove`, `rename`, `tmpname`). Never
    /// `os.exit`, which would end the host.
    pub fn allow_io(mut self) -> Self {
        self.io = true;
        self
    }

    /// `os.getenv`: the host's environment variables.
    pub fn allow_env(mut self) -> Self {
        self.env = true;
        self
    }

    /// `loadfile` and `dofile` (loading into the caller's globals).
    pub fn allow_file_loading(mut self) -> Self {
        self.file_loading = true;
        self
    }

    /// `load` of precompiled (binary) chunks, and `string.dump`. Binary
    /// chunks are not checked by Lua: a crafted one can crash the host.
    pub fn allow_binary_chunks(mut self) -> Self {
        self.binary_chunks = true;
        self
    }

    /// Every `collectgarbage` option (stopping or tuning the collector
    /// affects every process of the state).
    pub fn allow_gc_control(mut self) -> Self {
        self.gc_control = true;
        self
    }

    /// `__gc` metamethods. A finalizer runs in whatever code is running
    /// when the collector reaches its object, in a runtime another
    /// process, with that process's permissions and CPU budget; it can
    /// even resume its own process's main thread while that waits, which
    /// then runs inside the other process's step.
    pub fn allow_finalizers(mut self) -> Self {
        self.finalizers = true;
        self
    }

    /// Sends each line `print` writes to `f` (default: standard output).
    /// A line longer than 64 KiB reaches `f` cut to its first 64 KiB, with
    /// a note of how many bytes were cut.
    ///
    /// `f` runs on the worker thread, inside the printing process's step,
    /// where nothing can interrupt it: while it blocks, so do the worker's
    /// other processes, their deadlines and cancels. The default writes to
    /// standard output, which blocks while a pipe there is full (a reader
    /// that stalls held a worker six seconds past a 1 s deadline); a host
    /// whose output may stall gives a hook that does not block (a bounded
    /// queue that drops lines when full, say).
    pub fn print_to(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.print = Some(Arc::new(f));
        self
    }
}

impl Sandbox {
    /// The first capability allowed here whose answers differ between runs
    /// of the same script (what a workflow's sandbox may not allow).
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn nondeterministic(&self) -> Option<&'static str> {
        [
            (self.io, "io"),
            (self.env, "os.getenv"),
            (self.file_loading, "loading files"),
            (self.gc_control, "collectgarbage's options"),
            (self.finalizers, "finalizers"),
        ]
        .into_iter()
        .find_map(|(on, what)| on.then_some(what))
    }
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("io", &self.io)
            .field("env", &self.env)
            .field("file_loading", &self.file_loading)
            .field("binary_chunks", &self.binary_chunks)
            .field("gc_control", &self.gc_control)
            .field("finalizers", &self.finalizers)
            .field("print", &self.print.as_ref().map(|_| "hook"))
            .finish()
    }
}
