//! Modules used only by the workspace tests: `probe` mirrors standard Lua
//! functions parameter for parameter, so its error messages can be compared
//! with Lua's own on the same inputs.

/// Functions with the same parameter kinds as Lua standard functions.
#[luamod::module(name = "probe", class(deterministic))]
pub mod probe {
    use luamod::mlua;
    use luamod::prelude::*;

    /// As `string.rep(s, n [, sep])`.
    #[luamod::function]
    pub fn rep(s: &str, n: i64, sep: Option<&str>) -> String {
        let n = n.max(0) as usize;
        vec![s; n].join(sep.unwrap_or(""))
    }

    /// The sum of up to 24 integers: more parameters than the free stack
    /// slots Lua promises a C function (20), read whatever was passed.
    #[luamod::function]
    #[allow(clippy::too_many_arguments)]
    pub fn wide(
        a1: Option<i64>,
        a2: Option<i64>,
        a3: Option<i64>,
        a4: Option<i64>,
        a5: Option<i64>,
        a6: Option<i64>,
        a7: Option<i64>,
        a8: Option<i64>,
        a9: Option<i64>,
        a10: Option<i64>,
        a11: Option<i64>,
        a12: Option<i64>,
        a13: Option<i64>,
        a14: Option<i64>,
        a15: Option<i64>,
        a16: Option<i64>,
        a17: Option<i64>,
        a18: Option<i64>,
        a19: Option<i64>,
        a20: Option<i64>,
        a21: Option<i64>,
        a22: Option<i64>,
        a23: Option<i64>,
        a24: Option<i64>,
    ) -> i64 {
        a1.unwrap_or(0)
            + a2.unwrap_or(0)
            + a3.unwrap_or(0)
            + a4.unwrap_or(0)
            + a5.unwrap_or(0)
            + a6.unwrap_or(0)
            + a7.unwrap_or(0)
            + a8.unwrap_or(0)
            + a9.unwrap_or(0)
            + a10.unwrap_or(0)
            + a11.unwrap_or(0)
            + a12.unwrap_or(0)
            + a13.unwrap_or(0)
            + a14.unwrap_or(0)
            + a15.unwrap_or(0)
            + a16.unwrap_or(0)
            + a17.unwrap_or(0)
            + a18.unwrap_or(0)
            + a19.unwrap_or(0)
            + a20.unwrap_or(0)
            + a21.unwrap_or(0)
            + a22.unwrap_or(0)
            + a23.unwrap_or(0)
            + a24.unwrap_or(0)
    }

    /// As `string.char(c)` for one code.
    #[luamod::function]
    pub fn char(c: u8) -> String {
        (c as char).to_string()
    }

    /// As `math.floor(x)`.
    #[luamod::function]
    pub fn floor(x: f64) -> i64 {
        x.floor() as i64
    }

    /// As `string.sub(s, i [, j])`, for ASCII.
    #[luamod::function]
    pub fn sub(s: &str, i: i64, j: Option<i64>) -> String {
        let len = s.len() as i64;
        let norm = |k: i64| if k < 0 { (len + k + 1).max(0) } else { k };
        let (i, j) = (norm(i).max(1), norm(j.unwrap_or(-1)).min(len));
        if i > j {
            String::new()
        } else {
            s[(i - 1) as usize..j as usize].to_owned()
        }
    }

    /// As `table.concat(t [, sep])`, for string items.
    #[luamod::function]
    pub fn concat(t: Table, sep: Option<&str>) -> Result<String, LuaError> {
        let items: Vec<String> = t
            .sequence_values::<String>()
            .collect::<mlua::Result<_>>()
            .map_err(|e| LuaError::new(ErrorKind::Invalid, e.to_string()))?;
        Ok(items.join(sep.unwrap_or("")))
    }

    /// As `tostring(v)` for the basic types.
    #[luamod::function]
    pub fn tostring(v: Value) -> String {
        match v {
            Value::Nil => "nil".into(),
            Value::Boolean(b) => b.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::String(s) => s.to_string_lossy(),
            other => other.type_name().to_owned(),
        }
    }

    /// As `string.len(s)`.
    #[luamod::function]
    pub fn len(s: &[u8]) -> usize {
        s.len()
    }

    /// As `string.byte(s [, i])` for one byte.
    #[luamod::function]
    pub fn byte(s: &[u8], i: Option<i64>) -> Option<u8> {
        let i = i.unwrap_or(1);
        usize::try_from(i - 1).ok().and_then(|k| s.get(k).copied())
    }

    /// Narrow integer parameters.
    #[luamod::function]
    pub fn narrow(a: i8, b: u16, c: u64) -> i64 {
        a as i64 + b as i64 + c as i64
    }

    /// `f32`, `bool` and a defaulted integer.
    #[luamod::function]
    pub fn mixed(x: f32, flag: bool, #[lua(default = 10)] base: i64) -> (f64, bool, i64) {
        (x as f64, !flag, base)
    }

    /// Sums every argument.
    #[luamod::function]
    pub fn sum(xs: Variadic<f64>) -> f64 {
        xs.iter().sum()
    }

    /// Takes the state and builds a fresh (mutable) table.
    #[luamod::function]
    pub fn pair(lua: &Lua, a: i64, b: i64) -> mlua::Result<Table> {
        let t = lua.create_table()?;
        t.raw_set("a", a)?;
        t.raw_set("b", b)?;
        Ok(t)
    }

    /// Calls `f(x)` and returns what it returns.
    #[luamod::function]
    pub fn apply(f: Function, x: Value) -> mlua::Result<Value> {
        f.call(x)
    }

    /// Fails as an operational error.
    #[luamod::function]
    pub fn fail(kind: &str, msg: String) -> Result<i64, LuaError> {
        Err(LuaError::new(
            ErrorKind::parse(kind).unwrap_or(ErrorKind::Unknown),
            msg,
        ))
    }

    /// Panics with `msg`.
    #[luamod::function]
    pub fn boom(msg: &str) -> i64 {
        panic!("{msg}")
    }

    /// Renamed export.
    #[luamod::function(name = "renamed")]
    pub fn original_name() -> &'static str {
        "renamed"
    }

    /// Returns nothing.
    #[luamod::function]
    pub fn nothing() {}

    /// Limits, as a nested table: frozen to any depth, since every state's
    /// processes share it.
    #[luamod::constant(name = "LIMITS")]
    pub fn limits() -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> {
        let inner = std::collections::BTreeMap::from([("max".to_owned(), 10)]);
        std::collections::BTreeMap::from([("size".to_owned(), inner)])
    }

    /// Slices a list.
    ///
    /// # Arguments
    ///
    /// * `items` - the list to slice
    /// * `r#end` - last index (inclusive); a Lua keyword as a name
    #[luamod::function(returns = "string[]")]
    pub fn upto(#[lua(type = "string[]")] items: Table, r#end: i64) -> mlua::Result<Table> {
        let _ = r#end;
        Ok(items)
    }

    /// Echoes raw bytes (not UTF-8).
    #[luamod::function]
    pub fn bytes_len(b: &[u8], s: Option<String>) -> (usize, Option<String>) {
        (b.len(), s)
    }
}

// The allocation-failure and isolation helpers, the journal and the HTTP
// server serve the runtime's tests, which LuaJIT builds do not have.
#[cfg(not(feature = "luajit"))]
pub mod oom;

/// Lua statements that allocate until an allocation fails under the
/// memory limit (Lua then runs a full, emergency collection, which frees
/// whatever is unreachable), drop that, and fill what was freed with new
/// strings: what a hostile `__close` handler does to turn a dangling
/// reference into a use of reused memory.
pub const COLLECT_AND_REFILL: &str = "
    local t = {}
    pcall(function() local i = 0 while true do i = i + 1 t[i] = {} end end)
    t = nil
    local s = {}
    for i = 1, 20000 do s[i] = ('A'):rep(600) .. i end
";

/// Read-only data handed to Lua (`Frozen`).
#[luamod::module(name = "shelf", class(deterministic))]
pub mod shelf {
    use std::collections::BTreeMap;

    use luamod::Frozen;
    use luamod::prelude::*;

    /// A nested table, read-only at every level.
    #[luamod::function]
    pub fn catalog() -> Frozen<BTreeMap<String, Vec<i64>>> {
        Frozen::new(
            "shelf.catalog",
            BTreeMap::from([
                ("odd".to_owned(), vec![1, 3, 5]),
                ("even".to_owned(), vec![2, 4]),
            ]),
        )
    }

    /// A scalar passes unchanged.
    #[luamod::function]
    pub fn count() -> Frozen<i64> {
        Frozen::new("shelf.count", 5)
    }

    /// Frozen inside a `Result`.
    #[luamod::function]
    pub fn maybe(ok: bool) -> Result<Frozen<Vec<String>>, LuaError> {
        if ok {
            Ok(Frozen::new("shelf.maybe", vec!["a".to_owned()]))
        } else {
            Err(LuaError::new(ErrorKind::NotFound, "nothing on the shelf"))
        }
    }
}

/// Audits what a process can reach (for the isolation tests).
#[cfg(not(feature = "luajit"))]
#[luamod::module(name = "audit", class(deterministic))]
pub mod audit {
    use luamod::mlua;
    use luamod::prelude::*;

    /// The tables reachable from `env` that other processes share and
    /// could write.
    #[luamod::function]
    pub fn shared_writable(lua: &Lua, env: Table) -> mlua::Result<Vec<String>> {
        luamod::testing::writable_shared_tables(lua, &env)
    }
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, not(feature = "luajit")))]
pub struct ReadmeExample;

/// Objects for the userdata tests: drop tracking and re-entrancy.
#[luamod::module(name = "objects", class(deterministic))]
pub mod objects {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use luamod::mlua;
    use luamod::prelude::*;

    /// How many `Tracked` values have been dropped.
    pub static DROPPED: AtomicUsize = AtomicUsize::new(0);

    /// How many `Pending` values have been dropped.
    pub static PENDING_DROPPED: AtomicUsize = AtomicUsize::new(0);

    /// A value whose `Drop` is counted, for the finalizer test alone.
    #[luamod::userdata]
    #[derive(Default)]
    pub struct Pending {}

    impl Drop for Pending {
        fn drop(&mut self) {
            PENDING_DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[luamod::methods]
    impl Pending {
        /// A new value.
        pub fn new() -> Pending {
            Pending {}
        }

        /// Calls `f` while holding `&self`; says whether the value was
        /// dropped meanwhile.
        pub fn dropped_during(&self, f: Function) -> mlua::Result<bool> {
            let before = PENDING_DROPPED.load(Ordering::SeqCst);
            f.call::<()>(())?;
            Ok(PENDING_DROPPED.load(Ordering::SeqCst) != before)
        }
    }

    /// A value whose `Drop` is counted.
    #[luamod::userdata]
    pub struct Tracked {
        #[lua(field)]
        pub id: i64,
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[luamod::methods]
    impl Tracked {
        /// A new tracked value.
        pub fn new(id: i64) -> Tracked {
            Tracked { id }
        }

        /// Calls `f(self)` while holding `&mut self`.
        pub fn with_mut(&mut self, f: Function) -> mlua::Result<()> {
            self.id += 1;
            f.call::<()>(())
        }

        /// Reads the id.
        pub fn get(&self) -> i64 {
            self.id
        }

        /// Compares ids.
        #[lua(meta = "__lt")]
        pub fn lt(&self, other: &Self) -> bool {
            self.id < other.id
        }

        /// Compares ids.
        #[lua(meta = "__le")]
        pub fn le(&self, other: &Self) -> bool {
            self.id <= other.id
        }

        /// `obj(x)`: id + x.
        #[lua(meta = "__call")]
        pub fn call(&self, x: i64) -> i64 {
            self.id + x
        }

        /// `-obj`.
        #[lua(meta = "__unm")]
        pub fn neg(&self) -> i64 {
            -self.id
        }

        /// `obj + n`.
        #[lua(meta = "__add")]
        pub fn add(&self, n: i64) -> i64 {
            self.id + n
        }

        /// Unknown keys read as `"dyn:" .. key`.
        #[lua(meta = "__index")]
        pub fn dynamic(&self, key: String) -> String {
            format!("dyn:{key}")
        }

        /// `<close>` marks the object.
        #[lua(meta = "__close")]
        pub fn close(&mut self) {
            self.id = -1;
        }
    }

    /// A userdata enum.
    #[luamod::userdata]
    #[derive(Clone, Debug, PartialEq)]
    pub enum Shape {
        /// A circle of radius r.
        Circle(f64),
        /// A w×h rectangle.
        Rect(f64, f64),
    }

    #[luamod::methods]
    impl Shape {
        /// A circle.
        pub fn circle(r: f64) -> Shape {
            Shape::Circle(r)
        }

        /// A rectangle.
        pub fn rect(w: f64, h: f64) -> Shape {
            Shape::Rect(w, h)
        }

        /// The area.
        pub fn area(&self) -> f64 {
            match self {
                Shape::Circle(r) => std::f64::consts::PI * r * r,
                Shape::Rect(w, h) => w * h,
            }
        }

        /// Scales the shape in place.
        pub fn scale(&mut self, by: f64) {
            match self {
                Shape::Circle(r) => *r *= by,
                Shape::Rect(w, h) => {
                    *w *= by;
                    *h *= by;
                }
            }
        }

        /// `circle` or `rect`.
        #[lua(get)]
        pub fn kind(&self) -> &'static str {
            match self {
                Shape::Circle(_) => "circle",
                Shape::Rect(..) => "rect",
            }
        }
    }

    /// Takes a shape by value (the enum is `Clone`).
    #[luamod::function]
    pub fn double(s: Shape) -> Shape {
        match s {
            Shape::Circle(r) => Shape::Circle(r * 2.0),
            Shape::Rect(w, h) => Shape::Rect(w * 2.0, h * 2.0),
        }
    }

    /// Copies of `shapes` (read by value out of the list), then calls
    /// `f`, then sums the copies' areas.
    #[luamod::function]
    pub fn areas_after(shapes: Vec<Shape>, f: mlua::Function) -> mlua::Result<f64> {
        f.call::<()>(())?;
        Ok(shapes.iter().map(Shape::area).sum())
    }

    /// Takes a tracked value by reference.
    #[luamod::function]
    pub fn id_of(t: &Tracked) -> i64 {
        t.id
    }

    /// Sums the ids of six tracked values (borrows past the few a call
    /// keeps inline).
    #[luamod::function]
    pub fn sum_ids(
        a: &Tracked,
        b: &Tracked,
        c: &Tracked,
        d: &Tracked,
        e: &Tracked,
        f: &Tracked,
    ) -> i64 {
        a.id + b.id + c.id + d.id + e.id + f.id
    }

    /// Takes a tracked value mutably.
    #[luamod::function]
    pub fn bump(t: &mut Tracked, by: Option<i64>) -> i64 {
        t.id += by.unwrap_or(1);
        t.id
    }

    /// A nested record.
    #[derive(LuaRecord, Debug, Clone, PartialEq)]
    pub struct Endpoint {
        pub host: String,
        pub port: u16,
        #[lua(name = "tls")]
        pub use_tls: Option<bool>,
    }

    /// A record with a nested record, a list and a default.
    #[derive(LuaRecord, Debug, Clone, PartialEq)]
    pub struct Config {
        pub name: String,
        pub primary: Endpoint,
        pub backups: Vec<Endpoint>,
        #[lua(default)]
        pub retries: u32,
        pub labels: Option<BTreeMap<String, String>>,
    }

    /// Round-trips a config.
    #[luamod::function]
    pub fn echo_config(c: Config) -> Config {
        c
    }

    /// Sums a list.
    #[luamod::function]
    pub fn total(xs: Vec<i64>) -> i64 {
        xs.iter().sum()
    }

    /// Sums a map's values.
    #[luamod::function]
    pub fn weights(m: HashMap<String, f64>) -> f64 {
        m.values().sum()
    }

    /// Returns a map.
    #[luamod::function]
    pub fn counts(words: Vec<String>) -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for w in words {
            *m.entry(w).or_insert(0) += 1;
        }
        m
    }
}

/// `async fn` exports: each becomes a command with a default handler that
/// runs the body on the runtime's tokio pool.
#[luamod::module(name = "jobs", class(io))]
pub mod jobs {
    use luamod::prelude::*;

    /// Doubles `x` after a short real wait.
    #[luamod::function]
    pub async fn double(x: i64) -> Result<i64, LuaError> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        Ok(x * 2)
    }

    /// Fails with `INVALID` for negative input.
    #[luamod::function(command = 4242)]
    pub async fn checked(x: i64, label: Option<String>) -> Result<String, LuaError> {
        if x < 0 {
            return Err(LuaError::new(
                ErrorKind::Invalid,
                format!("{x} is negative"),
            ));
        }
        Ok(format!("{}{x}", label.unwrap_or_default()))
    }

    /// Returns a plain value (no `Result`).
    #[luamod::function]
    pub async fn echo(s: String) -> String {
        s
    }
}

/// The loopback HTTP server the demo uses, shared with the tests.
#[cfg(not(feature = "luajit"))]
pub use luamod_examples::demo_server as http_server;

/// A journal the cancellation tests read: what ran, from Lua and from
/// handlers, in order.
#[cfg(not(feature = "luajit"))]
#[luamod::module(name = "journal", class(io))]
pub mod journal {
    use std::sync::Mutex;

    use luamod::mlua::Function;
    use luamod::runtime::HandlerCx;
    use luamod::{Invoke, Invoked};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The lines noted so far that start with `prefix`.
    pub fn lines(prefix: &str) -> Vec<String> {
        LINES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn push(line: String) {
        LINES.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// Notes its line when dropped, unless it was used first.
    struct Unused(Option<String>);

    impl Drop for Unused {
        fn drop(&mut self) {
            if let Some(line) = self.0.take() {
                push(line);
            }
        }
    }

    /// Notes a line (does not wait).
    #[luamod::function]
    pub fn note(line: String) {
        push(line);
    }

    /// Waits until the process is cancelled: notes `line .. " dropped"` if
    /// the runtime drops the handler unfinished, or `line .. " saw the
    /// token"` if it saw the cancel token first (with the process's actor,
    /// as the handler sees it). It never finishes otherwise.
    #[luamod::function]
    pub async fn wait_for_cancel(cx: HandlerCx, line: String) {
        let actor = cx.context().actor.as_ref().map(|a| a.id.clone());
        let mut note = Unused(Some(format!("{line} dropped (actor {actor:?})")));
        cx.cancel().cancelled().await;
        note.0.take();
        push(format!("{line} saw the token (actor {actor:?})"));
    }

    /// Calls `f()` (which may wait), then returns true. Notes
    /// `line .. " abandoned"` if the continuation is dropped unrun.
    #[luamod::function]
    pub fn within(line: String, f: Function) -> Invoke<bool> {
        let mut guard = Unused(Some(format!("{line} abandoned")));
        Invoke::new(f, Vec::new(), move |how: Invoked| {
            guard.0.take();
            matches!(how, Invoked::Returned)
        })
    }
}

/// SQLite for tests that check a database from outside the runtime.
pub mod sqlite {
    pub use rusqlite::Connection;

    /// Opens `path`, waiting up to 30 s for a lock (a lock held longer is
    /// a failure: `database is locked`).
    pub fn open_waiting(path: &std::path::Path) -> Connection {
        let c = Connection::open(path).expect("open");
        c.busy_timeout(std::time::Duration::from_secs(30))
            .expect("busy timeout");
        c
    }
}

#[cfg(feature = "temporal")]
pub mod temporal;
