//! A module with one export of every kind, each keeping Rust values alive
//! while it allocates in Lua, for the allocation-failure tests: every
//! `Live` value made must be dropped whatever allocation fails.

pub use self::oom::MODULE;

/// Exports that allocate in every way an export can.
#[luamod::module(name = "oom", class(deterministic, io))]
#[allow(clippy::module_inception)]
pub mod oom {
    use std::collections::BTreeMap;
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicIsize, Ordering};

    use luamod::call::CallError;
    use luamod::prelude::*;
    use luamod::{CallCx, Invoke, Invoked, mlua};

    /// `Live` values that exist now.
    pub static LIVE: AtomicIsize = AtomicIsize::new(0);

    /// A value whose existence is counted; pushed to Lua as a string.
    pub struct Live(String);

    impl Live {
        pub fn new(s: impl Into<String>) -> Live {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Live(s.into())
        }
    }

    impl Drop for Live {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl IntoReturn for Live {
        fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
            self.0.as_str().push_return(cx)
        }
    }

    impl luamod::LuaType for Live {
        fn lua_type(_: &mut luamod::TypeRegistry) -> luamod::types::Type {
            luamod::types::Type::String
        }
    }

    /// A record with owned fields.
    #[derive(LuaRecord, Debug, Clone, PartialEq)]
    pub struct Point {
        pub x: f64,
        pub label: String,
        pub tags: Vec<String>,
    }

    /// An object holding a live value.
    #[luamod::userdata]
    pub struct Obj {
        live: Live,
        /// Its name.
        #[lua(field)]
        pub name: String,
    }

    #[luamod::methods]
    impl Obj {
        /// A new object.
        pub fn new(name: String) -> Obj {
            Obj {
                live: Live::new("obj"),
                name,
            }
        }

        /// Renames it (an exclusive borrow), returning the old name.
        pub fn rename(&mut self, name: String) -> String {
            let _hold = Live::new("rename");
            std::mem::replace(&mut self.name, name)
        }

        /// Describes it.
        pub fn describe(&self) -> String {
            format!("{} ({})", self.name, self.live.0)
        }

        /// Its name.
        #[lua(meta = "__tostring")]
        pub fn tostring(&self) -> String {
            self.name.clone()
        }

        /// Same name.
        #[lua(meta = "__eq")]
        pub fn same(&self, other: &Obj) -> bool {
            self.name == other.name
        }
    }

    /// Returns its argument, with a live value alive meanwhile.
    #[luamod::function]
    pub fn echo(s: String) -> String {
        let _hold = Live::new("echo");
        s
    }

    /// The length of a string (or of a number converted to one).
    #[luamod::function]
    pub fn len(s: &str) -> usize {
        s.len()
    }

    /// `n` live values, pushed as a sequence of strings.
    #[luamod::function]
    pub fn many(n: u32) -> Vec<Live> {
        (0..n)
            .map(|i| Live::new(format!("item number {i}")))
            .collect()
    }

    /// Counts the words.
    #[luamod::function]
    pub fn table(words: Vec<String>) -> BTreeMap<String, i64> {
        let _hold = Live::new("table");
        let mut m = BTreeMap::new();
        for w in words {
            *m.entry(w).or_insert(0) += 1;
        }
        m
    }

    /// Returns the record with an extra tag.
    #[luamod::function]
    pub fn record(mut p: Point) -> Point {
        p.tags.push(format!("seen by {}", p.label));
        p
    }

    /// Always `nil, err`.
    #[luamod::function]
    pub fn fail(msg: String) -> Result<Live, LuaError> {
        let _hold = Live::new("fail");
        Err(LuaError::new(ErrorKind::Invalid, msg).with_detail("why", "testing"))
    }

    /// Always `v, nil`.
    #[luamod::function]
    pub fn ok(msg: String) -> Result<Live, LuaError> {
        Ok(Live::new(format!("{msg}, and more")))
    }

    /// Refused in a state without a policy.
    #[luamod::function(permission = "oom.secret")]
    pub fn secret() -> i64 {
        42
    }

    /// Panics with a live value alive.
    #[luamod::function]
    pub fn boom() -> i64 {
        let _hold = Live::new("boom");
        panic!("kaboom")
    }

    fn after_push() {
        AFTER_PUSH.with(|h| {
            if let Some(h) = &*h.borrow() {
                h()
            }
        });
    }

    /// A result that pushes a copy of its string, runs `AFTER_PUSH`, then
    /// panics: an allocation failure deferred by the push must still be
    /// raised.
    pub struct PushThenPanic(pub String);

    impl IntoReturn for PushThenPanic {
        fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
            self.0.as_str().push_return(cx)?;
            after_push();
            panic!("kaboom after a push")
        }
    }

    impl luamod::LuaType for PushThenPanic {
        fn lua_type(_: &mut luamod::TypeRegistry) -> luamod::types::Type {
            luamod::types::Type::String
        }
    }

    /// Pushes a copy of `s`, then panics.
    #[luamod::function]
    pub fn push_then_boom(s: String) -> PushThenPanic {
        PushThenPanic(s)
    }

    thread_local! {
        /// What `push_then_call` and `push_then_boom` run right after
        /// their push.
        pub static AFTER_PUSH: std::cell::RefCell<Option<Box<dyn Fn()>>> =
            std::cell::RefCell::new(None);
    }

    /// A result that pushes a copy of its string, runs `AFTER_PUSH`, then
    /// calls a Lua function (which may call other exports) and ignores how
    /// that went.
    pub struct PushThenCall(pub String, pub mlua::Function);

    impl IntoReturn for PushThenCall {
        fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
            let n = self.0.as_str().push_return(cx)?;
            after_push();
            let _ = self.1.call::<()>(());
            Ok(n)
        }
    }

    impl luamod::LuaType for PushThenCall {
        fn lua_type(_: &mut luamod::TypeRegistry) -> luamod::types::Type {
            luamod::types::Type::String
        }
    }

    /// Pushes a copy of `s`, then calls `f`.
    #[luamod::function]
    pub fn push_then_call(s: String, f: mlua::Function) -> PushThenCall {
        PushThenCall(s, f)
    }

    /// A result pushed by a guarded call that first runs a full
    /// collection, as an allocation may run the collector's step (and
    /// with it finalizers, which may call exports).
    pub struct CollectThenPush;

    impl IntoReturn for CollectThenPush {
        fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
            // SAFETY: the closure only collects and pushes a literal.
            cx.alloc(0, |st| unsafe {
                mlua::ffi::lua_gc(st, mlua::ffi::LUA_GCCOLLECT, 0);
                mlua::ffi::lua_pushlstring(st, c"pushed".as_ptr(), 6);
            })?;
            Ok(1)
        }
    }

    impl luamod::LuaType for CollectThenPush {
        fn lua_type(_: &mut luamod::TypeRegistry) -> luamod::types::Type {
            luamod::types::Type::String
        }
    }

    /// Collects, then pushes `"pushed"`, in one guarded call.
    #[luamod::function]
    pub fn collect_then_push() -> CollectThenPush {
        CollectThenPush
    }

    /// Reads and returns tables through mlua.
    #[luamod::function]
    pub fn handle(lua: &Lua, t: Table) -> mlua::Result<Table> {
        let _hold = Live::new("handle");
        let out = lua.create_table()?;
        for (i, v) in t.sequence_values::<i64>().enumerate() {
            out.raw_set(i + 1, v? * 2)?;
        }
        Ok(out)
    }

    /// Calls `f` yieldably, then returns a live value.
    #[luamod::function]
    pub fn call(f: Function) -> Invoke<Result<Live, LuaError>> {
        Invoke::new(f, vec![Value::Integer(7)], |how| match how {
            Invoked::Returned => Ok(Live::new("called")),
            Invoked::Failed(e) => Err(e),
        })
    }

    /// Waits (only possible in a runtime process).
    #[luamod::function]
    pub fn wait() -> Yield<luamod::runtime::clock::Sleep> {
        Yield(luamod::runtime::clock::Sleep { ms: 1 })
    }
}
