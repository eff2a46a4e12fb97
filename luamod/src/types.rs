//! Type information for manifests: the [`LuaType`] trait, implemented per
//! Rust type (std, mlua and generated types; any user type may implement
//! it), and the [`TypeRegistry`] that collects the records and userdata
//! interfaces a module's signatures refer to.
//!
//! Generated code asks for a type through [`Tag`]: a type that implements
//! [`LuaType`] is described by it; any other (an mlua `IntoLua` type the
//! export still accepts) is described as `any`, so a signature never fails
//! to compile because of its type description.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

pub use luamod_types::{
    Field, FunctionDecl, FunctionType, Param, Type, TypeDef, TypeManifest, luals, luau, markdown,
};

use crate::error::LuaError;
use crate::userdata::ClassDef;

/// A Rust type's Lua type, for manifests and stubs.
///
/// ```
/// use luamod::{LuaType, TypeRegistry};
/// use luamod::types::Type;
/// let mut reg = TypeRegistry::new();
/// assert_eq!(<Option<Vec<i64>>>::lua_type(&mut reg), Type::Integer.array().optional());
/// ```
pub trait LuaType {
    /// The type; named types are registered in `reg`.
    fn lua_type(reg: &mut TypeRegistry) -> Type;
}

/// The return values of a function returning `Self`.
pub trait LuaReturns {
    /// Fixed return types and the type of any further values.
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>);
}

/// Collects named types while signatures are described.
#[derive(Debug, Default)]
pub struct TypeRegistry {
    types: Vec<TypeDef>,
    seen: Vec<String>,
}

impl TypeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a record (once; `fields` is called only the first time, so
    /// recursive records terminate).
    pub fn record(
        &mut self,
        name: &str,
        doc: &str,
        fields: impl FnOnce(&mut TypeRegistry) -> Vec<Field>,
    ) -> Type {
        if !self.seen.iter().any(|n| n == name) {
            self.seen.push(name.to_owned());
            let fields = fields(self);
            self.types.push(TypeDef::Record {
                name: name.to_owned(),
                doc: doc.to_owned(),
                fields,
            });
        }
        Type::named(name)
    }

    /// Registers a userdata class (once) and returns a reference to it.
    pub fn class(&mut self, class: &'static ClassDef) -> Type {
        if !self.seen.iter().any(|n| n == class.name) {
            self.seen.push(class.name.to_owned());
            let def = self.interface(class);
            self.types.push(def);
        }
        Type::named(class.name)
    }

    fn interface(&mut self, class: &'static ClassDef) -> TypeDef {
        let items = class.items;
        fn decls<'a>(
            reg: &mut TypeRegistry,
            defs: impl IntoIterator<Item = &'a crate::FunctionDef>,
        ) -> Vec<FunctionDecl> {
            defs.into_iter()
                .map(|d| FunctionDecl {
                    name: d.name.to_owned(),
                    doc: d.doc.to_owned(),
                    sig: (d.sig)(reg),
                    permission: None,
                })
                .collect()
        }
        let getters = decls(self, class.field_getters.iter().chain(items.getters));
        let setters = decls(self, class.field_setters.iter().chain(items.setters));
        let mut fields: Vec<Field> = getters
            .iter()
            .map(|g| Field {
                name: g.name.clone(),
                ty: g.sig.returns.first().cloned().unwrap_or(Type::Any),
                optional: false,
                readonly: !setters.iter().any(|s| s.name == g.name),
                doc: g.doc.clone(),
            })
            .collect();
        for s in &setters {
            if !fields.iter().any(|f| f.name == s.name) {
                fields.push(Field {
                    name: s.name.clone(),
                    ty: s
                        .sig
                        .params
                        .first()
                        .map(|p| p.ty.clone())
                        .unwrap_or(Type::Any),
                    optional: false,
                    readonly: false,
                    doc: s.doc.clone(),
                });
            }
        }
        TypeDef::Interface {
            name: class.name.to_owned(),
            doc: class.doc.to_owned(),
            fields,
            methods: decls(self, items.methods),
            metamethods: decls(self, items.meta),
            statics: decls(self, items.statics),
        }
    }

    /// The named types registered so far, in registration order.
    pub fn into_types(self) -> Vec<TypeDef> {
        self.types
    }
}

macro_rules! simple {
    ($ty:expr => $($t:ty),*) => {$(
        impl LuaType for $t {
            fn lua_type(_: &mut TypeRegistry) -> Type {
                $ty
            }
        }
    )*};
}
simple!(Type::Integer => i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
simple!(Type::Number => f32, f64);
simple!(Type::Boolean => bool);
simple!(Type::String => str, String, [u8], mlua::LuaString, mlua::BString);
simple!(Type::Any => mlua::Value);
simple!(Type::Table => mlua::Table);
simple!(Type::Thread => mlua::Thread);
simple!(Type::Userdata => mlua::AnyUserData);
simple!(Type::Error => LuaError);

impl LuaType for mlua::Function {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::Function(Box::new(FunctionType {
            variadic: Some(Type::Any),
            variadic_returns: Some(Type::Any),
            ..FunctionType::default()
        }))
    }
}

impl<T: LuaType + ?Sized> LuaType for &T {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg)
    }
}

impl<T: LuaType + ?Sized> LuaType for &mut T {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg)
    }
}

impl<T: LuaType> LuaType for Option<T> {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg).optional()
    }
}

impl<T: LuaType> LuaType for Vec<T> {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg).array()
    }
}

impl<K: LuaType, V: LuaType, S> LuaType for HashMap<K, V, S> {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        Type::map(K::lua_type(reg), V::lua_type(reg))
    }
}

impl<K: LuaType, V: LuaType> LuaType for BTreeMap<K, V> {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        Type::map(K::lua_type(reg), V::lua_type(reg))
    }
}

impl<T: LuaType> LuaReturns for T {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (vec![T::lua_type(reg)], None)
    }
}

impl LuaReturns for () {
    fn lua_returns(_: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (Vec::new(), None)
    }
}

macro_rules! tuple_returns {
    ($($n:ident)+) => {
        impl<$($n: LuaType),+> LuaReturns for ($($n,)+) {
            fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
                (vec![$($n::lua_type(reg)),+], None)
            }
        }
    };
}
tuple_returns!(A);
tuple_returns!(A B);
tuple_returns!(A B C);
tuple_returns!(A B C D);
tuple_returns!(A B C D E);
tuple_returns!(A B C D E F);
tuple_returns!(A B C D E F G);
tuple_returns!(A B C D E F G H);

/// `v, nil` or `nil, err`.
impl<T: LuaType> LuaReturns for Result<T, LuaError> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (
            vec![T::lua_type(reg).optional(), Type::Error.optional()],
            None,
        )
    }
}

/// Raises on error, so only the success values are typed.
impl<T: LuaReturns> LuaReturns for mlua::Result<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }
}

impl<T: LuaType> LuaReturns for mlua::Variadic<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (Vec::new(), Some(T::lua_type(reg)))
    }
}

/// A yield resumes with the command's output, or `nil, err`.
impl<C: crate::runtime::Command> LuaReturns for crate::runtime::Yield<C>
where
    C::Output: LuaReturns,
{
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        let (mut fixed, rest) = C::Output::lua_returns(reg);
        match fixed.len() {
            0 if rest.is_none() => {}
            _ => {
                for t in fixed.iter_mut() {
                    *t = t.clone().optional();
                }
            }
        }
        fixed.push(Type::Error.optional());
        (fixed, None)
    }
}

/// A mapped yield resumes with the mapped value, or `nil, err`.
impl<C: crate::runtime::Command, T: LuaReturns> LuaReturns for crate::runtime::Then<C, T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        let (mut fixed, _) = T::lua_returns(reg);
        for t in fixed.iter_mut() {
            *t = t.clone().optional();
        }
        if fixed.last() != Some(&Type::Error.optional()) {
            fixed.push(Type::Error.optional());
        }
        (fixed, None)
    }
}

/// What the continuation returns.
impl<T: LuaReturns> LuaReturns for crate::invoke::Invoke<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }
}

/// Names a type for autoref dispatch in generated code.
#[doc(hidden)]
pub struct Tag<T: ?Sized>(PhantomData<fn() -> *const T>);

impl<T: ?Sized> Tag<T> {
    #[doc(hidden)]
    pub const fn new() -> Self {
        Tag(PhantomData)
    }
}

impl<T: ?Sized> Default for Tag<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Picked when `T: LuaType`.
#[doc(hidden)]
pub trait KnownType {
    fn __lua_type(&self, reg: &mut TypeRegistry) -> Type;
}
impl<T: LuaType + ?Sized> KnownType for Tag<T> {
    fn __lua_type(&self, reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg)
    }
}

/// Picked otherwise: `any`.
#[doc(hidden)]
pub trait AnyType {
    fn __lua_type(&self, _: &mut TypeRegistry) -> Type {
        Type::Any
    }
}
impl<T: ?Sized> AnyType for &Tag<T> {}

/// Picked when `T: LuaReturns`.
#[doc(hidden)]
pub trait KnownReturns {
    fn __lua_returns(&self, reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>);
}
impl<T: LuaReturns> KnownReturns for Tag<T> {
    fn __lua_returns(&self, reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }
}

/// Picked otherwise: any number of `any`.
#[doc(hidden)]
pub trait AnyReturns {
    fn __lua_returns(&self, _: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (Vec::new(), Some(Type::Any))
    }
}
impl<T> AnyReturns for &Tag<T> {}

/// Parses a type written in `#[lua(type = "...")]` (checked by the macro at
/// compile time, so the fallback is unreachable in generated code).
#[doc(hidden)]
pub fn parse_type(s: &str) -> Type {
    Type::parse(s).unwrap_or(Type::Any)
}

/// Parses `returns = "A, B"`.
#[doc(hidden)]
pub fn parse_returns(s: &str) -> Vec<Type> {
    split_top_level(s).into_iter().map(parse_type).collect()
}

/// Splits at commas outside brackets.
pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' | '{' | '[' => depth += 1,
            ')' | '>' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.retain(|p| !p.is_empty());
    out
}
