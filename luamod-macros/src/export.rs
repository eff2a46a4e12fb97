//! Generation of one exported C function: read the arguments, call the Rust
//! function, push its results. Shared by module functions, methods, field
//! accessors and metamethods.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::ast::{Param, ParamKind};

pub struct ExportSpec<'a> {
    pub export_ident: Ident,
    /// Expression for `ExportInfo::module` (module or class name).
    pub info_module: TokenStream,
    pub lua_name: String,
    /// A field setter: its argument errors are worded for fields.
    pub setter: bool,
    /// The self type and whether the receiver is `&mut self`.
    pub receiver: Option<(TokenStream, bool)>,
    pub params: &'a [Param],
    /// The path called with the arguments (`self::f`, `<T>::m`).
    pub call_path: TokenStream,
    pub ret_span: Span,
}

pub fn ret_span(sig: &syn::Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Default => sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    }
}

pub fn export_fn(spec: &ExportSpec) -> TokenStream {
    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    let mut lua_idx: i32 = 0;
    if let Some((self_ty, mutable)) = &spec.receiver {
        lua_idx += 1;
        let read = if *mutable {
            quote!(::luamod::__private::ud_mut::<#self_ty>(__cx, 1)?)
        } else {
            quote!(::luamod::__private::ud_ref::<#self_ty>(__cx, 1)?)
        };
        bindings.push(quote!(let __luamod_self = #read;));
        call_args.push(format_ident!("__luamod_self"));
    }
    for (i, p) in spec.params.iter().enumerate() {
        let var = format_ident!("__luamod_a{}", i);
        match &p.kind {
            ParamKind::Lua => {
                bindings.push(quote!(let #var = __cx.lua();));
            }
            ParamKind::Arg { default, .. } => {
                lua_idx += 1;
                let Some(ty) = &p.ty else { continue };
                let span = ty.span();
                let read = match default {
                    None => quote_spanned! {span=>
                        let #var: #ty = ::luamod::__private::arg::<#ty>(__cx, #lua_idx)?;
                    },
                    Some(expr) => {
                        let dspan = expr.span();
                        let fallback = quote_spanned! {dspan=>
                            ::luamod::__private::default_into::<#ty, _>(#expr)
                        };
                        quote_spanned! {span=>
                            let #var: #ty = match ::luamod::__private::arg::<
                                ::luamod::__private::Option<#ty>,
                            >(__cx, #lua_idx)? {
                                ::luamod::__private::Some(v) => v,
                                ::luamod::__private::None => #fallback,
                            };
                        }
                    }
                };
                bindings.push(read);
            }
            ParamKind::Receiver { .. } => continue,
        }
        call_args.push(var);
    }

    let push = quote_spanned! {spec.ret_span=>
        #[allow(unused_imports)]
        use ::luamod::__private::{FastRet as _, SlowRet as _};
        (&__luamod_ret).__luamod_ret().push(__luamod_ret, __cx)
    };
    let export_ident = &spec.export_ident;
    let info_module = &spec.info_module;
    let lua_name = &spec.lua_name;
    let call_path = &spec.call_path;
    let kind = if spec.setter {
        quote!(::luamod::__private::ExportKind::Setter)
    } else {
        quote!(::luamod::__private::ExportKind::Function)
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::needless_lifetimes, clippy::let_unit_value)]
        unsafe extern "C-unwind" fn #export_ident(
            state: *mut ::luamod::__private::lua_State,
        ) -> ::luamod::__private::c_int {
            static INFO: ::luamod::__private::ExportInfo = ::luamod::__private::ExportInfo {
                module: #info_module,
                name: #lua_name,
                kind: #kind,
            };
            // SAFETY: Lua calls this as a C function with its running state;
            // `call` raises errors only after every Rust value is dropped.
            unsafe {
                ::luamod::__private::call(state, &INFO, |__cx| {
                    #(#bindings)*
                    let __luamod_ret = #call_path(#(#call_args),*);
                    #push
                })
            }
        }
    }
}
