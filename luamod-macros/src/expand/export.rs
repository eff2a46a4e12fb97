//! One exported C function: read the arguments, run the body, push its
//! results. Every export (module functions, methods, metamethods, field
//! getters and setters, constructors) is generated here; what differs is
//! the [`Body`].

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned;

use super::sig;
pub use super::spec::{Body, ExportSpec};
use crate::ast::param::{Param, ParamKind};
use crate::attr;

/// The `FunctionDef` of the export.
pub fn function_def(spec: &ExportSpec) -> TokenStream {
    let p = &spec.p;
    let (desc, _) = attr::doc::split_arguments(&spec.doc);
    let name = &spec.lua_name;
    let export_ident = &spec.export_ident;
    let sig_ident = spec.sig_ident();
    let permission = match &spec.permission {
        Some((action, resource)) => {
            let res = resource.as_ref().map(|r| r.to_string()).unwrap_or_default();
            quote!(#p::Some((#action, #res)))
        }
        None => quote!(#p::None),
    };
    quote! {
        #p::FunctionDef {
            name: #name,
            doc: #desc,
            func: #export_ident,
            sig: #sig_ident,
            permission: #permission,
        }
    }
}

/// The C function and its manifest describer.
pub fn export_fn(spec: &ExportSpec) -> TokenStream {
    let p = &spec.p;
    let mut prepared = Vec::new();
    let body = match &spec.body {
        Body::Call {
            path,
            params,
            receiver,
        } => call_body(spec, path, params, receiver.as_ref(), &mut prepared),
        Body::Get {
            self_ty,
            member,
            ty,
        } => {
            let clone = quote_spanned! {ty.span()=>
                <#ty as #p::Clone>::clone(&__luamod_self.#member)
            };
            let push = push_result(p, ty.span());
            quote! {
                let __luamod_self = #p::ud_ref::<#self_ty>(__cx, 1)?;
                let __luamod_ret = #clone;
                #push
            }
        }
        Body::Set {
            self_ty,
            member,
            ty,
        } => {
            let read = quote_spanned! {ty.span()=> #p::arg::<#ty>(__cx, 2)? };
            quote! {
                let __luamod_value: #ty = #read;
                let __luamod_self = #p::ud_mut::<#self_ty>(__cx, 1)?;
                __luamod_self.#member = __luamod_value;
                #p::Ok(0)
            }
        }
    };
    let export_ident = &spec.export_ident;
    let info_module = &spec.info_module;
    let lua_name = &spec.lua_name;
    let kind = if spec.is_setter() {
        quote!(#p::ExportKind::Setter)
    } else {
        quote!(#p::ExportKind::Function)
    };
    let describer = sig::describer(spec);
    let pre_vars: Vec<_> = prepared.iter().map(|a| &a.var).collect();
    let pre_reads = prepared.iter().map(|a| {
        let (var, ty, idx) = (&a.var, &a.ty, a.idx);
        quote_spanned! {ty.span()=>
            let #var = &&#p::PrepareTag::<#ty>::new();
            let #var = unsafe { #var.__luamod_prepare(state, #idx) };
        }
    });
    quote! {
        #describer

        #[doc(hidden)]
        #[allow(
            non_snake_case,
            clippy::needless_lifetimes,
            clippy::let_unit_value,
            clippy::too_many_arguments
        )]
        unsafe extern "C-unwind" fn #export_ident(
            state: *mut #p::lua_State,
        ) -> #p::c_int {
            static INFO: #p::ExportInfo = #p::ExportInfo {
                owner: #info_module,
                name: #lua_name,
                kind: #kind,
            };
            // A safe function of its own, so that user expressions in the
            // body (argument defaults) get no unsafe context from this one.
            fn __luamod_body(
                __cx: &#p::CallCx,
                #(#pre_vars: #p::Prepared,)*
            ) -> #p::Result<#p::c_int, #p::CallError> {
                #body
            }
            #[allow(unused_imports)]
            use #p::{PrepareArg as _, PrepareNone as _};
            // SAFETY (of each): nothing is alive in this frame yet, so
            // converting a number argument may raise; the argument slots
            // are left alone until the call returns.
            #(#pre_reads)*
            // SAFETY: Lua calls this as a C function with its running state;
            // `call` raises errors only after every Rust value is dropped.
            unsafe {
                #p::call(state, &INFO, move |__cx: &#p::CallCx| {
                    __luamod_body(__cx, #(#pre_vars),*)
                })
            }
        }
    }
}

/// Pushes `__luamod_ret`: through `IntoReturn` if the type has it, else
/// through mlua, else a compile error naming both traits.
fn push_result(p: &TokenStream, span: Span) -> TokenStream {
    quote_spanned! {span=>
        #[allow(unused_imports)]
        use #p::{FastRet as _, NoRet as _, SlowRet as _};
        (&&&#p::RetTag::of(&__luamod_ret)).__luamod_ret().push(__luamod_ret, __cx)
    }
}

/// An argument read before the export's Rust frame exists (see
/// `luamod::__private::PrepareTag`).
struct Prepared {
    var: syn::Ident,
    ty: Type,
    idx: i32,
}

/// Lua promises a C function 20 free stack slots past its arguments, and
/// the C API may not be asked about an index beyond them.
const LUA_MINSTACK: i32 = 20;

fn call_body(
    spec: &ExportSpec,
    path: &TokenStream,
    params: &[Param],
    receiver: Option<&(Type, bool)>,
    prepared: &mut Vec<Prepared>,
) -> TokenStream {
    let p = &spec.p;
    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    let mut lua_idx: i32 = 0;
    if let Some((self_ty, mutable)) = receiver {
        lua_idx += 1;
        // Through `LuaMethods`, so a methods block on a type that is no
        // userdata reports one error (on the block), not one per method.
        // SAFETY (of these unsafe blocks): `self` is read first, before the
        // export pushes anything, as `method_self` requires.
        let read = if *mutable {
            quote!(unsafe { #p::method_self_mut::<#self_ty>(__cx, 1) }?)
        } else {
            quote!(unsafe { #p::method_self::<#self_ty>(__cx, 1) }?)
        };
        bindings.push(quote!(let __luamod_self = #read;));
        call_args.push(quote!(__luamod_self));
    }
    for (i, param) in params.iter().enumerate() {
        let var = format_ident!("__luamod_a{}", i);
        match &param.kind {
            ParamKind::Lua => bindings.push(quote!(let #var = __cx.lua();)),
            ParamKind::Context => bindings.push(quote!(let #var = #p::context(__cx);)),
            ParamKind::Arg { default, .. } => {
                lua_idx += 1;
                let Some(ty) = &param.ty else { continue };
                let span = ty.span();
                let read = match default {
                    None if lua_idx <= LUA_MINSTACK => {
                        let pre = format_ident!("__luamod_p{}", i);
                        // The type is named outside the unsafe block, so
                        // that nothing of the user's gets its context.
                        let read = quote_spanned! {span=>
                            let #var = #p::arg_prepared::<#ty>;
                            // SAFETY: `#pre` is what the top of this call
                            // read of this argument.
                            let #var: #ty = unsafe { #var(__cx, #lua_idx, #pre) }?;
                        };
                        prepared.push(Prepared {
                            var: pre,
                            ty: ty.clone(),
                            idx: lua_idx,
                        });
                        read
                    }
                    None => quote_spanned! {span=>
                        let #var: #ty = #p::arg::<#ty>(__cx, #lua_idx)?;
                    },
                    Some(expr) => {
                        let fallback = quote_spanned! {expr.span()=>
                            #p::default_into::<#ty, _>(#expr)
                        };
                        quote_spanned! {span=>
                            let #var: #ty = match #p::arg::<#p::Option<#ty>>(__cx, #lua_idx)? {
                                #p::Some(v) => v,
                                #p::None => #fallback,
                            };
                        }
                    }
                };
                bindings.push(read);
            }
            // Supplied by the handler that runs an `async fn`'s body.
            ParamKind::Receiver { .. } | ParamKind::Handler => continue,
            ParamKind::State(ty) => {
                bindings.push(quote!(let #var = #p::module_state::<#ty>(__cx)?;));
                // An `async fn`'s shim takes the `Arc` (its command keeps
                // it); a plain function borrows it for the call.
                if spec.async_shim {
                    call_args.push(quote!(#var));
                } else {
                    call_args.push(quote!(&*#var));
                }
                continue;
            }
        }
        call_args.push(quote!(#var));
    }
    // An export with more parameters than LUA_MINSTACK makes room before
    // reading any.
    if lua_idx > LUA_MINSTACK {
        bindings.insert(0, quote!(__cx.reserve_args(#lua_idx)?;));
    }
    if let Some((action, resource)) = &spec.permission {
        let res = match resource.as_ref().and_then(|r| {
            params
                .iter()
                .position(|p| p.name.as_deref() == Some(&r.to_string()))
        }) {
            Some(i) => {
                let v = format_ident!("__luamod_a{}", i);
                quote!(&#v)
            }
            None => quote!(&"*"),
        };
        bindings.push(quote!(#p::check_permission(__cx, #action, #res)?;));
    }
    let push = push_result(p, spec.ret_span);
    quote! {
        #(#bindings)*
        let __luamod_ret = #path(#(#call_args),*);
        #push
    }
}
