//! Lua types as luamod describes them.

use serde::{Deserialize, Serialize};

/// A Lua type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Type {
    /// `nil`.
    Nil,
    /// `true`/`false`.
    Boolean,
    /// A number with an integer representation.
    Integer,
    /// Any number.
    Number,
    /// A string (Lua strings are bytes).
    String,
    /// Anything; the checker checks nothing.
    Any,
    /// Something the checker must narrow before use.
    Unknown,
    /// A table with unknown contents.
    Table,
    /// A coroutine.
    Thread,
    /// A userdata of unknown class.
    Userdata,
    /// `T?`: `T` or `nil`.
    Optional {
        /// The inner type.
        of: Box<Type>,
    },
    /// `A|B|...`.
    Union {
        /// The alternatives.
        of: Vec<Type>,
    },
    /// `T[]`: a sequence.
    Array {
        /// The element type.
        of: Box<Type>,
    },
    /// `table<K, V>`.
    Map {
        /// Key type.
        key: Box<Type>,
        /// Value type.
        value: Box<Type>,
    },
    /// Several values (multiple returns).
    Tuple {
        /// The values in order.
        of: Vec<Type>,
    },
    /// A function with a known signature.
    Function(Box<FunctionType>),
    /// An inline record `{ a: T, b?: U }`.
    Record {
        /// The fields.
        fields: Vec<Field>,
    },
    /// A named type defined in a manifest (record or userdata interface),
    /// or a built-in class name.
    Named {
        /// Its Lua name (`buffer.Buffer`).
        name: String,
    },
    /// A string literal type (`"GET"`).
    Literal {
        /// The string.
        value: String,
    },
    /// luamod's error value (`errors.Error`).
    Error,
}

impl Type {
    /// `T?` (not doubled when `self` is already optional).
    pub fn optional(self) -> Type {
        match self {
            t @ (Type::Optional { .. } | Type::Nil | Type::Any | Type::Unknown) => t,
            t => Type::Optional { of: Box::new(t) },
        }
    }

    /// `T[]`.
    pub fn array(self) -> Type {
        Type::Array { of: Box::new(self) }
    }

    /// `table<K, V>`.
    pub fn map(key: Type, value: Type) -> Type {
        Type::Map {
            key: Box::new(key),
            value: Box::new(value),
        }
    }

    /// A reference to a named type.
    pub fn named(name: impl Into<String>) -> Type {
        Type::Named { name: name.into() }
    }

    /// The type without one level of `?`.
    pub fn strip_optional(&self) -> &Type {
        match self {
            Type::Optional { of } => of,
            t => t,
        }
    }

    /// Whether `nil` is accepted.
    pub fn is_optional(&self) -> bool {
        match self {
            Type::Optional { .. } | Type::Nil | Type::Any | Type::Unknown => true,
            Type::Union { of } => of.iter().any(Type::is_optional),
            _ => false,
        }
    }

    /// Every named type this type refers to.
    pub fn named_refs<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Type::Named { name } => out.push(name),
            Type::Optional { of } | Type::Array { of } => of.named_refs(out),
            Type::Union { of } | Type::Tuple { of } => of.iter().for_each(|t| t.named_refs(out)),
            Type::Map { key, value } => {
                key.named_refs(out);
                value.named_refs(out);
            }
            Type::Function(f) => f.named_refs(out),
            Type::Record { fields } => fields.iter().for_each(|f| f.ty.named_refs(out)),
            _ => {}
        }
    }
}

/// One parameter of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// The name (as written in Rust; writers rename Lua keywords).
    pub name: String,
    /// The type (without the `?` of an optional parameter).
    pub ty: Type,
    /// Whether the caller may omit it.
    #[serde(default)]
    pub optional: bool,
    /// Its doc text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionType {
    /// Fixed parameters.
    pub params: Vec<Param>,
    /// Type of the `...` rest parameters, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variadic: Option<Type>,
    /// Fixed return values.
    pub returns: Vec<Type>,
    /// Type of any number of further return values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variadic_returns: Option<Type>,
    /// The combinations the return values come in, when they are
    /// correlated: a fallible function returns `v, nil` or `nil, err`,
    /// never `nil, nil` or `v, err`, which `returns` alone (`T?, Error?`)
    /// cannot say. Empty when any combination of `returns` can occur.
    /// Stubs turn each row into an overload a checker narrows with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub return_rows: Vec<Vec<Type>>,
    /// Whether calling it may suspend the calling process (a yield).
    #[serde(default)]
    pub is_async: bool,
}

impl FunctionType {
    fn named_refs<'a>(&'a self, out: &mut Vec<&'a str>) {
        for p in &self.params {
            p.ty.named_refs(out);
        }
        for t in self
            .variadic
            .iter()
            .chain(&self.returns)
            .chain(&self.variadic_returns)
        {
            t.named_refs(out);
        }
    }
}

/// A field of a record or a userdata interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The Lua name.
    pub name: String,
    /// The type (without the `?` of an optional field).
    pub ty: Type,
    /// Whether the field may be absent.
    #[serde(default)]
    pub optional: bool,
    /// Whether Lua may assign it (userdata fields without a setter cannot).
    #[serde(default)]
    pub readonly: bool,
    /// Its doc text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

impl Type {
    /// `self` without its `?` when `optional` (the `?` is then written
    /// on the name: `x?: T`).
    pub(crate) fn strip_optional_if(&self, optional: bool) -> &Type {
        if optional {
            self.strip_optional()
        } else {
            self
        }
    }
}
