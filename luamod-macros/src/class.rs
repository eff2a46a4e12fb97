//! `#[luamod::userdata]` on a struct or enum and `#[luamod::methods]` on its
//! impl block. Parsing, checks and generation are separate sections below;
//! each exported item becomes one C function through `export`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Fields, ImplItem, Item, ItemImpl, LitStr, Token, Type};

use crate::ast::{self, Param, ParamKind};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::export::{self, ExportSpec};
use crate::valid;

/// The metamethods a methods block may define, by their Lua names.
pub const METAMETHODS: &[&str] = &[
    "__tostring",
    "__eq",
    "__lt",
    "__le",
    "__len",
    "__call",
    "__concat",
    "__unm",
    "__add",
    "__sub",
    "__mul",
    "__div",
    "__mod",
    "__pow",
    "__idiv",
    "__band",
    "__bor",
    "__bxor",
    "__shl",
    "__shr",
    "__bnot",
    "__close",
    "__index",
    "__newindex",
];

// ---------------------------------------------------------------- parsing

#[derive(Default)]
struct ClassArgs {
    name: Option<LitStr>,
    clone: bool,
}

fn parse_class_args(cx: &Ctxt, input: ParseStream) -> syn::Result<ClassArgs> {
    let mut out = ClassArgs::default();
    while !input.is_empty() {
        let key: syn::Ident = input.parse()?;
        if key == "name" {
            input.parse::<Token![=]>()?;
            out.name = Some(input.parse()?);
        } else if key == "clone" {
            out.clone = true;
        } else {
            cx.error_spanned_by(
                &key,
                format!("unknown userdata option `{key}`; expected `name = \"...\"` or `clone`"),
            );
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(out)
}

/// Options of `#[lua(...)]` on a struct field or a method.
#[derive(Default)]
struct ItemOpts {
    get: bool,
    set: bool,
    skip: bool,
    name: Option<LitStr>,
    meta: Option<LitStr>,
    returns: Option<LitStr>,
}

fn parse_item_opts(cx: &Ctxt, attrs: &mut Vec<Attribute>, on_field: bool) -> ItemOpts {
    let mut o = ItemOpts::default();
    attrs.retain(|a| {
        if !attr::is_lua_attr(a) {
            return true;
        }
        let r = a.parse_nested_meta(|meta| {
            let p = &meta.path;
            if p.is_ident("get") {
                o.get = true;
            } else if p.is_ident("set") {
                o.set = true;
            } else if p.is_ident("field") && on_field {
                o.get = true;
                o.set = true;
            } else if p.is_ident("skip") && !on_field {
                o.skip = true;
            } else if p.is_ident("name") {
                o.name = Some(meta.value()?.parse()?);
            } else if p.is_ident("meta") && !on_field {
                o.meta = Some(meta.value()?.parse()?);
            } else if p.is_ident("returns") && !on_field {
                let lit: LitStr = meta.value()?.parse()?;
                attr::check_type_list(cx, &lit);
                o.returns = Some(lit);
            } else {
                let expected = if on_field {
                    "`field`, `get`, `set` or `name = \"...\"`"
                } else {
                    "`get`, `set`, `meta = \"__name\"`, `name = \"...\"`, `returns = \"...\"` or `skip`"
                };
                cx.error_spanned_by(p, format!("unknown option; expected {expected}"));
                if meta.input.peek(Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
        false
    });
    o
}

struct FieldSpec {
    ident: syn::Ident,
    ty: Type,
    lua_name: String,
    get: bool,
    set: bool,
    doc: String,
}

// ------------------------------------------------------------- userdata

pub fn userdata(args: TokenStream, input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let cargs = match (|i: ParseStream| parse_class_args(&cx, i)).parse2(args) {
        Ok(a) => a,
        Err(e) => {
            cx.syn_error(e);
            ClassArgs::default()
        }
    };
    let mut item: Item = match syn::parse2(input.clone()) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let (ident, generics, doc) = match &item {
        Item::Struct(s) => (
            s.ident.clone(),
            s.generics.clone(),
            attr::doc_text(&s.attrs),
        ),
        Item::Enum(e) => (
            e.ident.clone(),
            e.generics.clone(),
            attr::doc_text(&e.attrs),
        ),
        other => {
            let mut out = syn::Error::new(
                other.span(),
                "`#[luamod::userdata]` goes on a struct or an enum",
            )
            .to_compile_error();
            out.extend(input);
            return out;
        }
    };
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics,
            "userdata types cannot be generic: Lua needs one concrete metatable per type",
        );
    }
    let mut fields = Vec::new();
    if let Item::Struct(s) = &mut item {
        let named = matches!(s.fields, Fields::Named(_));
        for f in s.fields.iter_mut() {
            let o = parse_item_opts(&cx, &mut f.attrs, true);
            if !(o.get || o.set) {
                continue;
            }
            let Some(fident) = f.ident.clone() else {
                if !named {
                    cx.error_spanned_by(&f.ty, "`#[lua(field)]` needs a named field");
                }
                continue;
            };
            let lua_name = o
                .name
                .map(|l| l.value())
                .unwrap_or_else(|| fident.to_string());
            if !valid::is_lua_identifier(&lua_name) {
                cx.error_spanned_by(
                    &fident,
                    format!("`{lua_name}` is not a valid Lua field name"),
                );
            }
            fields.push(FieldSpec {
                ident: fident,
                ty: f.ty.clone(),
                lua_name,
                get: o.get,
                set: o.set,
                doc: attr::doc_text(&f.attrs),
            });
        }
    }
    let name = cargs
        .name
        .as_ref()
        .map(|l| l.value())
        .unwrap_or_else(|| ident.to_string());
    let derives_clone = match &item {
        Item::Struct(s) => derives(&s.attrs, "Clone"),
        Item::Enum(e) => derives(&e.attrs, "Clone"),
        _ => false,
    };
    let body = match cx.check() {
        Ok(()) => expand_userdata(&ident, &name, &doc, &fields, cargs.clone || derives_clone),
        Err(e) => e.to_compile_error(),
    };
    quote!(#item #body)
}

/// Whether `#[derive(..., Name, ...)]` is among `attrs` (the derive runs
/// after this attribute, so the derive list is still visible here).
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("derive")
            && a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, Token![,]>::parse_terminated,
            )
            .is_ok_and(|list| {
                list.iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
            })
    })
}

fn expand_userdata(
    ident: &syn::Ident,
    name: &str,
    doc: &str,
    fields: &[FieldSpec],
    by_clone: bool,
) -> TokenStream {
    let short = name.rsplit('.').next().unwrap_or(name).to_owned();
    let class_name = quote!(<#ident as ::luamod::__private::LuaClass>::CLASS.name);
    let mut fns = Vec::new();
    let mut getters = Vec::new();
    let mut setters = Vec::new();
    for f in fields {
        let fid = &f.ident;
        let ty = &f.ty;
        let lua_name = &f.lua_name;
        let info = |n: &str, kind: TokenStream| {
            quote! {
                static INFO: ::luamod::__private::ExportInfo = ::luamod::__private::ExportInfo {
                    module: #class_name,
                    name: #n,
                    kind: #kind,
                };
            }
        };
        if f.get {
            let gid = format_ident!("__luamod_get_{}", fid);
            let info = info(lua_name, quote!(::luamod::__private::ExportKind::Function));
            let clone = quote_spanned! {ty.span()=>
                <#ty as ::luamod::__private::Clone>::clone(&__luamod_self.#fid)
            };
            fns.push(quote! {
                #[allow(non_snake_case)]
                unsafe extern "C-unwind" fn #gid(
                    state: *mut ::luamod::__private::lua_State,
                ) -> ::luamod::__private::c_int {
                    #info
                    // SAFETY: called by the class's `__index` with the object.
                    unsafe {
                        ::luamod::__private::call(state, &INFO, |__cx| {
                            let __luamod_self = ::luamod::__private::ud_ref::<#ident>(__cx, 1)?;
                            let __luamod_ret = #clone;
                            #[allow(unused_imports)]
                            use ::luamod::__private::{FastRet as _, SlowRet as _};
                            (&__luamod_ret).__luamod_ret().push(__luamod_ret, __cx)
                        })
                    }
                }
            });
            let gsig = format_ident!("__luamod_get_{}__sig", fid);
            let fdoc = &f.doc;
            fns.push(quote! {
                #[allow(non_snake_case)]
                fn #gsig(reg: &mut ::luamod::__private::TypeRegistry) -> ::luamod::__private::FunctionType {
                    #[allow(unused_imports)]
                    use ::luamod::__private::{AnyType as _, KnownType as _};
                    ::luamod::__private::FunctionType {
                        returns: ::std::vec![(&::luamod::__private::Tag::<#ty>::new()).__lua_type(reg)],
                        ..::luamod::__private::Default::default()
                    }
                }
            });
            getters.push(quote! {
                ::luamod::__private::FunctionDef { name: #lua_name, doc: #fdoc, func: #gid, sig: #gsig, permission: ::luamod::__private::None }
            });
        }
        if f.set {
            let sid = format_ident!("__luamod_set_{}", fid);
            let info = info(lua_name, quote!(::luamod::__private::ExportKind::Setter));
            let read = quote_spanned! {ty.span()=>
                ::luamod::__private::arg::<#ty>(__cx, 2)?
            };
            fns.push(quote! {
                #[allow(non_snake_case)]
                unsafe extern "C-unwind" fn #sid(
                    state: *mut ::luamod::__private::lua_State,
                ) -> ::luamod::__private::c_int {
                    #info
                    // SAFETY: called by the class's `__newindex` with (object, value).
                    unsafe {
                        ::luamod::__private::call(state, &INFO, |__cx| {
                            let __luamod_value: #ty = #read;
                            let __luamod_self = ::luamod::__private::ud_mut::<#ident>(__cx, 1)?;
                            __luamod_self.#fid = __luamod_value;
                            ::luamod::__private::Ok(0)
                        })
                    }
                }
            });
            let ssig = format_ident!("__luamod_set_{}__sig", fid);
            let fdoc = &f.doc;
            fns.push(quote! {
                #[allow(non_snake_case)]
                fn #ssig(reg: &mut ::luamod::__private::TypeRegistry) -> ::luamod::__private::FunctionType {
                    #[allow(unused_imports)]
                    use ::luamod::__private::{AnyType as _, KnownType as _};
                    ::luamod::__private::FunctionType {
                        params: ::std::vec![::luamod::__private::Param {
                            name: ::luamod::__private::String::from("value"),
                            ty: (&::luamod::__private::Tag::<#ty>::new()).__lua_type(reg),
                            optional: false,
                            doc: ::luamod::__private::String::new(),
                        }],
                        ..::luamod::__private::Default::default()
                    }
                }
            });
            setters.push(quote! {
                ::luamod::__private::FunctionDef { name: #lua_name, doc: #fdoc, func: #sid, sig: #ssig, permission: ::luamod::__private::None }
            });
        }
    }
    let by_value = by_clone.then(|| {
        quote! {
            impl<'a> ::luamod::__private::FromArg<'a> for #ident {
                fn from_arg(
                    cx: &'a ::luamod::__private::CallCx,
                    idx: ::luamod::__private::c_int,
                ) -> ::luamod::__private::Result<Self, ::luamod::__private::ArgError> {
                    ::luamod::__private::ud_ref::<#ident>(cx, idx)
                        .map(<#ident as ::luamod::__private::Clone>::clone)
                }
            }
        }
    });
    quote! {
        const _: () = {
            #(#fns)*

            impl ::luamod::__private::LuaClass for #ident {
                const CLASS: &'static ::luamod::__private::ClassDef = &::luamod::__private::ClassDef {
                    name: #name,
                    short: #short,
                    doc: #doc,
                    field_getters: &[#(#getters),*],
                    field_setters: &[#(#setters),*],
                    items: <#ident as ::luamod::__private::LuaMethods>::ITEMS,
                    gc: ::luamod::__private::gc::<#ident>,
                };
            }

            impl ::luamod::__private::LuaType for #ident {
                fn lua_type(reg: &mut ::luamod::__private::TypeRegistry) -> ::luamod::__private::Type {
                    reg.class(<#ident as ::luamod::__private::LuaClass>::CLASS)
                }
            }

            impl<'a> ::luamod::__private::FromArg<'a> for &'a #ident {
                fn from_arg(
                    cx: &'a ::luamod::__private::CallCx,
                    idx: ::luamod::__private::c_int,
                ) -> ::luamod::__private::Result<Self, ::luamod::__private::ArgError> {
                    ::luamod::__private::ud_ref::<#ident>(cx, idx)
                }
            }

            impl<'a> ::luamod::__private::FromArg<'a> for &'a mut #ident {
                fn from_arg(
                    cx: &'a ::luamod::__private::CallCx,
                    idx: ::luamod::__private::c_int,
                ) -> ::luamod::__private::Result<Self, ::luamod::__private::ArgError> {
                    ::luamod::__private::ud_mut::<#ident>(cx, idx)
                }
            }

            impl ::luamod::__private::IntoReturn for #ident {
                fn push_return(
                    self,
                    cx: &::luamod::__private::CallCx,
                ) -> ::luamod::__private::Result<::luamod::__private::c_int, ::luamod::__private::CallError> {
                    ::luamod::__private::ud_push::<#ident>(cx, self)
                }
            }

            #by_value
        };
    }
}

// --------------------------------------------------------------- methods

struct MethodSpec {
    ident: syn::Ident,
    lua_name: String,
    role: Role,
    doc: String,
    params: Vec<Param>,
    receiver: Option<bool>,
    ret_span: Span,
    ret_ty: Option<Type>,
    returns: Option<LitStr>,
    /// `C` when the method returns `Yield<C>`.
    yields: Option<Type>,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Method,
    Getter,
    Setter,
    Meta,
    Static,
}

/// Replaces `Self` in parameter types by the concrete type, because the
/// generated functions live outside the impl block.
struct ReplaceSelf<'a>(&'a Type);

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

pub fn methods(args: TokenStream, input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    if !args.is_empty() {
        cx.error_spanned_by(&args, "`#[luamod::methods]` takes no options");
    }
    let mut imp: ItemImpl = match syn::parse2(input.clone()) {
        Ok(i) => i,
        Err(_) => {
            let mut out = syn::Error::new(
                Span::call_site(),
                "`#[luamod::methods]` goes on an inherent impl block: `impl Type { ... }`",
            )
            .to_compile_error();
            out.extend(input);
            return out;
        }
    };
    if let Some((_, path, _)) = &imp.trait_ {
        cx.error_spanned_by(
            path,
            "`#[luamod::methods]` goes on an inherent impl block, not a trait impl",
        );
    }
    if !imp.generics.params.is_empty() {
        cx.error_spanned_by(&imp.generics, "userdata types cannot be generic");
    }
    let self_ty = (*imp.self_ty).clone();
    let mut specs = Vec::new();
    for item in imp.items.iter_mut() {
        let ImplItem::Fn(f) = item else { continue };
        let o = parse_item_opts(&cx, &mut f.attrs, false);
        if o.skip {
            continue;
        }
        let mut params = ast::parse_params(&cx, &mut f.sig);
        for p in params.iter_mut() {
            if let Some(ty) = &mut p.ty {
                ReplaceSelf(&self_ty).visit_type_mut(ty);
            }
        }
        let ret_ty = match &f.sig.output {
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, ty) => {
                let mut t = (**ty).clone();
                ReplaceSelf(&self_ty).visit_type_mut(&mut t);
                Some(t)
            }
        };
        if let Some(spec) = classify(&cx, f, o, params, ret_ty) {
            specs.push(spec);
        }
    }
    check_duplicates(&cx, &specs);
    let body = match cx.check() {
        Ok(()) => expand_methods(&self_ty, &specs),
        Err(e) => {
            // Still implement the trait (with no items) so that one mistake
            // does not also report "has no methods block" on the type.
            let mut out = e.to_compile_error();
            out.extend(expand_methods(&self_ty, &[]));
            out
        }
    };
    quote!(#imp #body)
}

fn classify(
    cx: &Ctxt,
    f: &syn::ImplItemFn,
    o: ItemOpts,
    params: Vec<Param>,
    ret_ty: Option<Type>,
) -> Option<MethodSpec> {
    let sig = &f.sig;
    valid::check_signature(cx, sig, &o.name);
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            "`async fn` methods are not supported; return `Yield<C>` with a command instead",
        );
    }
    valid::check_params(cx, &params, true);
    let receiver = params.iter().find_map(|p| match p.kind {
        ParamKind::Receiver { mutable, .. } => Some(mutable),
        _ => None,
    });
    let args: Vec<&Param> = params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Arg { .. }))
        .collect();
    let mut lua_name = o
        .name
        .as_ref()
        .map(|l| l.value())
        .unwrap_or_else(|| sig.ident.to_string());
    let role = if let Some(meta) = &o.meta {
        let m = meta.value();
        if !METAMETHODS.contains(&m.as_str()) {
            let hint = if matches!(m.as_str(), "__gc" | "__name" | "__metatable" | "__mode") {
                format!("`{m}` is managed by luamod and cannot be defined; ")
            } else {
                format!("unknown metamethod `{m}`; ")
            };
            cx.error_spanned_by(
                meta,
                format!("{hint}expected one of: {}", METAMETHODS.join(", ")),
            );
        }
        if receiver.is_none() {
            cx.error_spanned_by(
                &sig.ident,
                "a metamethod takes `&self` or `&mut self` first",
            );
        }
        lua_name = m;
        Role::Meta
    } else if o.get && o.set {
        cx.error_spanned_by(
            &sig.ident,
            "a method is either a getter or a setter, not both",
        );
        return None;
    } else if o.get {
        if receiver.is_none() || !args.is_empty() {
            cx.error_spanned_by(
                &sig.inputs,
                "a getter takes only `&self`: `#[lua(get)] fn name(&self) -> T`",
            );
        }
        Role::Getter
    } else if o.set {
        if receiver.is_none() || args.len() != 1 {
            cx.error_spanned_by(
                &sig.inputs,
                "a setter takes `&mut self` and exactly one value: `#[lua(set)] fn set_name(&mut self, v: T)`",
            );
        }
        if o.name.is_none() {
            lua_name = lua_name
                .strip_prefix("set_")
                .unwrap_or(&lua_name)
                .to_owned();
        }
        Role::Setter
    } else if receiver.is_some() {
        Role::Method
    } else {
        Role::Static
    };
    Some(MethodSpec {
        ident: sig.ident.clone(),
        lua_name,
        role,
        doc: attr::doc_text(&f.attrs),
        params,
        receiver,
        ret_span: export::ret_span(sig),
        ret_ty,
        returns: o.returns,
        yields: ast::yield_command(&sig.output),
    })
}

fn check_duplicates(cx: &Ctxt, specs: &[MethodSpec]) {
    let mut seen: Vec<(&str, Role)> = Vec::new();
    for s in specs {
        // Methods and getters share the `obj.name` namespace; setters,
        // metamethods and statics each have their own.
        let ns = match s.role {
            Role::Method | Role::Getter => Role::Method,
            r => r,
        };
        if seen.iter().any(|(n, r)| *n == s.lua_name && *r == ns) {
            cx.error_spanned_by(&s.ident, format!("duplicate Lua name `{}`", s.lua_name));
        }
        seen.push((&s.lua_name, ns));
    }
}

fn expand_methods(self_ty: &Type, specs: &[MethodSpec]) -> TokenStream {
    let class_name = quote!(<#self_ty as ::luamod::__private::LuaClass>::CLASS.name);
    let mut fns = Vec::new();
    let mut lists: [Vec<TokenStream>; 5] = Default::default();
    for s in specs {
        let export_ident = format_ident!("__luamod_method_{}", s.ident);
        let ident = &s.ident;
        let spec = ExportSpec {
            export_ident,
            info_module: class_name.clone(),
            lua_name: s.lua_name.clone(),
            setter: s.role == Role::Setter,
            receiver: s.receiver.map(|m| (quote!(#self_ty), m)),
            params: &s.params,
            call_path: quote!(<#self_ty>::#ident),
            ret_span: s.ret_span,
            ret_ty: s.ret_ty.clone(),
            returns_override: s.returns.clone(),
            doc: s.doc.clone(),
            is_async: s.yields.is_some(),
            permission: None,
        };
        fns.push(export::export_fn(&spec));
        let slot = match s.role {
            Role::Method => 0,
            Role::Getter => 1,
            Role::Setter => 2,
            Role::Meta => 3,
            Role::Static => 4,
        };
        lists[slot].push(export::function_def(&spec));
    }
    let [methods, getters, setters, meta, statics] = &lists;
    let commands = specs.iter().filter_map(|s| s.yields.as_ref());
    quote! {
        const _: () = {
            #(#fns)*

            impl ::luamod::__private::LuaMethods for #self_ty {
                const ITEMS: &'static ::luamod::__private::MethodsDef = &::luamod::__private::MethodsDef {
                    methods: &[#(#methods),*],
                    getters: &[#(#getters),*],
                    setters: &[#(#setters),*],
                    meta: &[#(#meta),*],
                    statics: &[#(#statics),*],
                    commands: &[#(<#commands as ::luamod::__private::Command>::DEF),*],
                };
            }
        };
    }
}

// ------------------------------------------------- inside a module

/// Whether `attr` is `#[luamod::userdata]`.
pub fn is_userdata_attr(a: &Attribute) -> bool {
    attr::is_luamod_attr(a, "userdata")
}

/// For a userdata type inside a module: adds `name = "module.Type"` to its
/// attribute when the author gave none, and returns the type's ident.
pub fn adopt_userdata(module: &str, item: &mut Item) -> Option<syn::Ident> {
    let (attrs, ident) = match item {
        Item::Struct(s) => (&mut s.attrs, s.ident.clone()),
        Item::Enum(e) => (&mut e.attrs, e.ident.clone()),
        _ => return None,
    };
    let a = attrs.iter_mut().find(|a| is_userdata_attr(a))?;
    let has_name = match &a.meta {
        syn::Meta::List(l) => l
            .tokens
            .clone()
            .into_iter()
            .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "name")),
        _ => false,
    };
    if !has_name {
        let name = format!("{module}.{ident}");
        let path = a.path().clone();
        let extra = match &a.meta {
            syn::Meta::List(l) if !l.tokens.is_empty() => {
                let t = &l.tokens;
                quote!(, #t)
            }
            _ => quote!(),
        };
        *a = syn::parse_quote!(#[#path(name = #name #extra)]);
    }
    Some(ident)
}

/// For a `#[derive(LuaRecord)]` struct inside a module: adds
/// `#[lua(name = "module.Type")]` when the author gave no name.
pub fn adopt_record(module: &str, item: &mut Item) {
    let Item::Struct(st) = item else { return };
    if !derives(&st.attrs, "LuaRecord") {
        return;
    }
    let has_name = st.attrs.iter().any(|a| {
        attr::is_lua_attr(a)
            && matches!(&a.meta, syn::Meta::List(l) if l.tokens.clone().into_iter().any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "name")))
    });
    if !has_name {
        let name = format!("{module}.{}", st.ident);
        st.attrs.push(syn::parse_quote!(#[lua(name = #name)]));
    }
}
