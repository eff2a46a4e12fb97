//! [`ModuleDef`]: what `#[luamod::module]` emits, static data and function
//! pointers built at compile time, and the module's type manifest.

use crate::call::FunctionDef;
use crate::command::{CommandDef, StateDef};
use crate::error::LuaError;
use crate::security::{Class, ContextKind};
use crate::types::TypeRegistry;
use crate::userdata::{ClassDef, class_type};

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
    pub userdata: &'static [&'static ClassDef],
    /// The commands its functions may yield.
    pub commands: &'static [CommandDef],
    /// Its state (`state = T`), if it declares one.
    pub state: Option<StateDef>,
}

impl ModuleDef {
    /// The module's classes.
    pub fn classes(&self) -> &'static [Class] {
        self.classes
    }

    /// The module's type manifest: every export's signature and the records
    /// and userdata interfaces they use, from the Rust signatures.
    pub fn manifest(&self) -> luamod_types::TypeManifest {
        let mut reg = TypeRegistry::new();
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
            class_type(&mut reg, class);
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

    /// Refuses the module in a context of `kind` that may not bind it (a
    /// workflow binds only deterministic or workflow modules).
    pub fn admit(&self, kind: ContextKind) -> Result<(), LuaError> {
        kind.admit(self.name, self.classes)
    }

    /// Every command the module's functions and classes may yield.
    pub fn all_commands(&self) -> impl Iterator<Item = &'static CommandDef> {
        let classes = self.userdata.iter().flat_map(|c| c.items.commands.iter());
        self.commands.iter().chain(classes)
    }
}
