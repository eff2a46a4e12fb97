//! A userdata class in the type manifest: its interface (fields, methods,
//! metamethods, constructors), built from the class's definition.

use luamod_types::{Field, FunctionDecl, Type, TypeDef};

use super::class::ClassDef;
use crate::call::FunctionDef;
use crate::types::TypeRegistry;

/// Registers `class`'s interface in `reg` (once) and returns a reference
/// to it. Generated `LuaType` impls of userdata types call this.
pub fn class_type(reg: &mut TypeRegistry, class: &'static ClassDef) -> Type {
    reg.named(class.name, |reg| interface(reg, class))
}

fn decls<'a>(
    reg: &mut TypeRegistry,
    defs: impl IntoIterator<Item = &'a FunctionDef>,
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

fn interface(reg: &mut TypeRegistry, class: &'static ClassDef) -> TypeDef {
    let items = class.items;
    let getters = decls(reg, class.field_getters.iter().chain(items.getters));
    let setters = decls(reg, class.field_setters.iter().chain(items.setters));
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
        methods: decls(reg, items.methods),
        metamethods: decls(reg, items.meta),
        statics: decls(reg, items.statics),
    }
}
