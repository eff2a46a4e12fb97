//! Type shapes the macros recognise by syntax, as PyO3 recognises
//! `Python<'py>`: they decide the calling convention (`&Lua`, `&Context`,
//! `Option<T>`, `Variadic<T>`, `Yield<C>`), not a Lua type, which always
//! comes from a trait.

use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, Type};

/// `&Name` (`&Lua`, `&mlua::Lua`, `&Context`).
pub fn is_ref_to(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Reference(r) => last_segment_is(&r.elem, name) && generic_args(&r.elem).is_none(),
        _ => false,
    }
}

/// Whether the type's path ends in `name` (`Option`, `std::option::Option`).
pub fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == name)
        }
        _ => false,
    }
}

/// The first type argument of `Wrapper<T, ...>`, if any.
pub fn generic_args(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let PathArguments::AngleBracketed(ab) = &seg.arguments else {
        return None;
    };
    ab.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `C` in a `-> Yield<C>` or `-> Then<C, T>` return type.
pub fn yield_command(output: &syn::ReturnType) -> Option<Type> {
    match output {
        syn::ReturnType::Type(_, ty)
            if last_segment_is(ty, "Yield") || last_segment_is(ty, "Then") =>
        {
            generic_args(ty).cloned()
        }
        _ => None,
    }
}

/// Replaces `Self` by the concrete type, because generated functions live
/// outside the impl block.
pub struct ReplaceSelf<'a>(pub &'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(p) = ty
            && p.qself.is_none()
            && p.path.is_ident("Self")
        {
            *ty = self.0.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
