//! A module's type manifest.

use serde::{Deserialize, Serialize};

use crate::ty::{Field, FunctionType, Type};

/// The permission an export checks before its body runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    /// The action (`fs.read`).
    pub action: String,
    /// The parameter whose value is the resource, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// A named function with its signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDecl {
    /// The Lua name.
    pub name: String,
    /// Its doc text (without the `# Arguments` list, which is in the params).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
    /// The signature.
    pub sig: FunctionType,
    /// The permission it checks, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
}

/// A named type a module defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeDef {
    /// A table shape (`#[derive(LuaRecord)]`).
    Record {
        /// The Lua name (`buffer.Options`).
        name: String,
        /// Its doc text.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        doc: String,
        /// The fields.
        fields: Vec<Field>,
    },
    /// A userdata class (`#[luamod::userdata]`).
    Interface {
        /// The Lua name (`buffer.Buffer`).
        name: String,
        /// Its doc text.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        doc: String,
        /// Fields (getters and setters).
        fields: Vec<Field>,
        /// Methods, called with `:`.
        methods: Vec<FunctionDecl>,
        /// Metamethods by their Lua names; `self` is not among the params.
        metamethods: Vec<FunctionDecl>,
        /// Associated functions, exported as `module.Type.name`.
        statics: Vec<FunctionDecl>,
    },
}

impl TypeDef {
    /// The Lua name.
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Record { name, .. } | TypeDef::Interface { name, .. } => name,
        }
    }

    /// The short name a module exports an interface's statics under.
    pub fn short_name(&self) -> &str {
        let n = self.name();
        n.rsplit('.').next().unwrap_or(n)
    }
}

/// Everything a stub writer needs to know about one module.
///
/// ```
/// use luamod_types::TypeManifest;
/// let m = TypeManifest::new("greet", "Greeting utilities.");
/// let json = serde_json::to_string(&m).unwrap();
/// assert_eq!(serde_json::from_str::<TypeManifest>(&json).unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeManifest {
    /// The name `require` takes.
    pub name: String,
    /// The module's doc text.
    #[serde(default)]
    pub description: String,
    /// Its classes (`deterministic`, `io`, ...).
    #[serde(default)]
    pub classes: Vec<String>,
    /// The exported functions.
    pub functions: Vec<FunctionDecl>,
    /// The records and interfaces it defines or uses.
    #[serde(default)]
    pub types: Vec<TypeDef>,
    /// Constant values of the module table (`errors.NOT_FOUND`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constants: Vec<Field>,
    /// Whether the module is also a global (like `errors`).
    #[serde(default)]
    pub global: bool,
}

impl TypeManifest {
    /// An empty manifest.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        TypeManifest {
            name: name.into(),
            description: description.into(),
            classes: Vec::new(),
            functions: Vec::new(),
            types: Vec::new(),
            constants: Vec::new(),
            global: false,
        }
    }

    /// The type of the module table: its functions, plus one table per
    /// interface with associated functions.
    pub fn export(&self) -> Type {
        let mut fields: Vec<Field> = self.constants.clone();
        fields.extend(self.functions.iter().map(|f| Field {
            name: f.name.clone(),
            ty: Type::Function(Box::new(f.sig.clone())),
            optional: false,
            readonly: true,
            doc: f.doc.clone(),
        }));
        for t in self.exported_interfaces() {
            if let TypeDef::Interface { statics, .. } = t {
                fields.push(Field {
                    name: t.short_name().to_owned(),
                    ty: Type::Record {
                        fields: statics
                            .iter()
                            .map(|s| Field {
                                name: s.name.clone(),
                                ty: Type::Function(Box::new(s.sig.clone())),
                                optional: false,
                                readonly: true,
                                doc: s.doc.clone(),
                            })
                            .collect(),
                    },
                    optional: false,
                    readonly: true,
                    doc: String::new(),
                });
            }
        }
        Type::Record { fields }
    }

    /// Interfaces defined by this module (named `<module>.<Type>`) that have
    /// associated functions, so the module table carries them.
    pub fn exported_interfaces(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.iter().filter(move |t| {
            matches!(t, TypeDef::Interface { statics, .. } if !statics.is_empty())
                && self.defines(t)
        })
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain data types cannot fail (no maps with
        // non-string keys, no custom serialisers).
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a manifest back from JSON.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// Whether `t` belongs to this module (rather than being used by it).
    pub fn defines(&self, t: &TypeDef) -> bool {
        t.name()
            .strip_prefix(self.name.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }
}
