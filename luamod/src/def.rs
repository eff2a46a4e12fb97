//! Module definitions and binding them to a Lua state.
//!
//! [`ModuleDef`] is what `#[luamod::module]` emits: static data and function
//! pointers, built at compile time. Binding creates the module's export
//! table once per state, freezes it behind a read-only proxy, and registers
//! it in `package.loaded`, so every `require` returns the same table.

use std::ffi::c_int;

use mlua::{Lua, Table};

/// A class describes what a module's functions may touch. Hosts use classes
/// to decide which modules a context may bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Same inputs, same outputs; no outside world.
    Deterministic,
    /// May differ between runs (randomness, environment).
    Nondeterministic,
    /// Touches local I/O (files, processes' pipes).
    Io,
    /// Talks over the network.
    Network,
    /// Reads or writes persistent storage.
    Storage,
    /// Safe to use in a replayed workflow.
    Workflow,
    /// Encodes and decodes data.
    Encoding,
    /// Reads clocks or waits on timers.
    Time,
    /// Starts or controls processes.
    Process,
    /// Handles credentials, crypto or policy.
    Security,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 10] = [
        Class::Deterministic,
        Class::Nondeterministic,
        Class::Io,
        Class::Network,
        Class::Storage,
        Class::Workflow,
        Class::Encoding,
        Class::Time,
        Class::Process,
        Class::Security,
    ];

    /// The name used in `class(...)` and in manifests.
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Deterministic => "deterministic",
            Class::Nondeterministic => "nondeterministic",
            Class::Io => "io",
            Class::Network => "network",
            Class::Storage => "storage",
            Class::Workflow => "workflow",
            Class::Encoding => "encoding",
            Class::Time => "time",
            Class::Process => "process",
            Class::Security => "security",
        }
    }
}

/// One exported function.
#[derive(Debug)]
pub struct FunctionDef {
    /// The Lua name.
    pub name: &'static str,
    /// Its doc comment (without a `# Arguments` list).
    pub doc: &'static str,
    /// The generated C function.
    pub func: unsafe extern "C-unwind" fn(*mut mlua::ffi::lua_State) -> c_int,
    /// Describes its signature (generated from the Rust signature).
    pub sig: fn(&mut crate::TypeRegistry) -> luamod_types::FunctionType,
    /// `permission = "..."`: the action checked before the body runs, and
    /// the name of the parameter used as resource (empty: none).
    pub permission: Option<(&'static str, &'static str)>,
}

/// A Lua module, as `#[luamod::module]` emits it (`pub static MODULE`).
#[derive(Debug)]
pub struct ModuleDef {
    /// The name `require` takes.
    pub name: &'static str,
    /// The module's doc comment.
    pub description: &'static str,
    /// What its functions may touch.
    pub classes: &'static [Class],
    /// The exported functions, in source order.
    pub functions: &'static [FunctionDef],
    /// Constant fields (`#[luamod::constant]`), evaluated when bound.
    pub constants: &'static [FunctionDef],
    /// The userdata classes defined in the module; their associated
    /// functions are exported as `module.Type.name`.
    pub userdata: &'static [&'static crate::userdata::ClassDef],
    /// The commands its functions may yield.
    pub commands: &'static [crate::runtime::CommandDef],
}

impl ModuleDef {
    /// The module's classes.
    pub fn classes(&self) -> &'static [Class] {
        self.classes
    }

    /// The module's type manifest: every export's signature and the records
    /// and userdata interfaces they use, from the Rust signatures.
    pub fn manifest(&self) -> luamod_types::TypeManifest {
        let mut reg = crate::TypeRegistry::new();
        let functions = self
            .functions
            .iter()
            .map(|f| luamod_types::FunctionDecl {
                name: f.name.to_owned(),
                doc: f.doc.to_owned(),
                sig: (f.sig)(&mut reg),
                permission: f
                    .permission
                    .map(|(action, resource)| luamod_types::Permission {
                        action: action.to_owned(),
                        resource: (!resource.is_empty()).then(|| resource.to_owned()),
                    }),
            })
            .collect();
        for class in self.userdata {
            reg.class(class);
        }
        let constants = self
            .constants
            .iter()
            .map(|c| luamod_types::Field {
                name: c.name.to_owned(),
                ty: (c.sig)(&mut reg)
                    .returns
                    .into_iter()
                    .next()
                    .unwrap_or(luamod_types::Type::Any),
                optional: false,
                readonly: true,
                doc: c.doc.to_owned(),
            })
            .collect();
        let mut m = luamod_types::TypeManifest::new(self.name, self.description);
        m.constants = constants;
        m.classes = self.classes.iter().map(|c| c.as_str().to_owned()).collect();
        m.functions = functions;
        m.types = reg.into_types();
        m
    }

    /// Binds the module to `lua` (once; later calls return the same table)
    /// and returns its read-only export table.
    pub fn bind(&'static self, lua: &Lua) -> mlua::Result<Table> {
        install_base(lua)?;
        let cache: Table = lua.named_registry_value(MODULES_KEY)?;
        if let Some(t) = cache.raw_get::<Option<Table>>(self.name)? {
            return Ok(t);
        }
        let inner = lua.create_table_with_capacity(0, self.functions.len())?;
        for f in self.functions {
            // SAFETY: `f.func` is generated by `#[luamod::function]`, which
            // follows the C function protocol and raises only through
            // `luamod::call`'s drop-safe path.
            let func = unsafe { lua.create_c_function(f.func)? };
            inner.raw_set(f.name, func)?;
        }
        for c in self.constants {
            // SAFETY: as above.
            let f = unsafe { lua.create_c_function(c.func)? };
            inner.raw_set(c.name, f.call::<mlua::Value>(())?)?;
        }
        for class in self.userdata {
            if let Some(t) = crate::userdata::statics_table(lua, class)? {
                inner.raw_set(class.short, t)?;
            }
        }
        let proxy = crate::readonly::freeze(lua, self.name, inner)?;
        cache.raw_set(self.name, &proxy)?;
        lua.register_module(self.name, &proxy)?;
        Ok(proxy)
    }
}

const MODULES_KEY: &str = "luamod.modules";

/// Installs luamod's base in `lua`: the read-only guards and the global
/// `errors` module. Idempotent.
pub fn install_base(lua: &Lua) -> mlua::Result<()> {
    if lua
        .named_registry_value::<Option<Table>>(MODULES_KEY)?
        .is_some()
    {
        return Ok(());
    }
    crate::readonly::install(lua)?;
    lua.set_named_registry_value(MODULES_KEY, lua.create_table()?)?;
    let errors = crate::readonly::freeze(lua, "errors", crate::errors_module::create(lua)?)?;
    lua.globals().raw_set("errors", &errors)?;
    lua.register_module("errors", &errors)?;
    Ok(())
}

/// Sets the security context of a plain state (one made by [`lua_with`]);
/// permission checks in its exports use it. Without one, they deny.
pub fn set_context(lua: &Lua, ctx: crate::security::Context) {
    lua.set_app_data(std::sync::Arc::new(ctx));
}

/// A Lua state with luamod's base and `modules` bound, so
/// `require("name")` works.
///
/// ```
/// let lua = luamod::lua_with(&[])?;
/// let kind: String = lua.load("return errors.NOT_FOUND").eval()?;
/// assert_eq!(kind, "NOT_FOUND");
/// # Ok::<(), mlua::Error>(())
/// ```
pub fn lua_with(modules: &[&'static ModuleDef]) -> mlua::Result<Lua> {
    let lua = Lua::new();
    install_base(&lua)?;
    for m in modules {
        m.bind(&lua)?;
    }
    Ok(lua)
}
