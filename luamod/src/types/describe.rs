//! [`LuaType`] and [`LuaReturns`] for std and mlua types, and the
//! [`TypeRegistry`] that collects named types.

use std::collections::{BTreeMap, HashMap};

use luamod_types::{Field, FunctionType, Type, TypeDef};

use crate::error::LuaError;

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

    /// The combinations the fixed values come in, if they are correlated
    /// (see [`FunctionType::return_rows`]); none by default. A type that
    /// returns `v, nil` or `nil, err` gives [`fallible_rows`] of its
    /// success values.
    fn lua_return_rows(_reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        Vec::new()
    }
}

/// The rows of a fallible return whose success is one value: `v, nil` or
/// `nil, err`. A failure is always exactly `nil, err`, so with any other
/// number of success values the error's position is not the same in both
/// rows, and there are no rows to give (the plain optional types stay).
///
/// ```
/// use luamod::types::{Type, fallible_rows};
/// assert_eq!(
///     fallible_rows(&[Type::String]),
///     vec![vec![Type::String, Type::Nil], vec![Type::Nil, Type::Error]],
/// );
/// assert!(fallible_rows(&[Type::String, Type::Integer]).is_empty());
/// ```
pub fn fallible_rows(success: &[Type]) -> Vec<Vec<Type>> {
    match success {
        [one] => vec![vec![one.clone(), Type::Nil], vec![Type::Nil, Type::Error]],
        _ => Vec::new(),
    }
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

    /// Registers a named type (once: `def` is called only the first time,
    /// so recursive types terminate) and returns a reference to it. Used
    /// for userdata interfaces.
    pub fn named(&mut self, name: &str, def: impl FnOnce(&mut TypeRegistry) -> TypeDef) -> Type {
        if !self.seen.iter().any(|n| n == name) {
            self.seen.push(name.to_owned());
            let def = def(self);
            self.types.push(def);
        }
        Type::named(name)
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

    fn lua_return_rows(reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        fallible_rows(&[T::lua_type(reg)])
    }
}

/// Raises on error, so only the success values are typed.
impl<T: LuaReturns> LuaReturns for mlua::Result<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }

    fn lua_return_rows(reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        T::lua_return_rows(reg)
    }
}

impl<T: LuaType> LuaReturns for mlua::Variadic<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (Vec::new(), Some(T::lua_type(reg)))
    }
}
