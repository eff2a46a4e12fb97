//! The path generated code uses for the luamod crate: `::luamod`, or what
//! the user gave with `crate = "..."` after renaming the dependency. The one
//! place that spells it.

use proc_macro2::TokenStream;
use quote::quote;

/// The luamod crate's path.
#[derive(Clone)]
pub struct Krate(syn::Path);

impl Default for Krate {
    fn default() -> Self {
        Krate(syn::parse_quote!(::luamod))
    }
}

impl Krate {
    /// From a `crate = "..."` value.
    pub fn from_lit(lit: &syn::LitStr) -> syn::Result<Krate> {
        lit.parse::<syn::Path>().map(Krate).map_err(|_| {
            syn::Error::new(
                lit.span(),
                "`crate = \"...\"` takes the path of the luamod crate as you named it, such as \"luamod\" or \"::my_luamod\"",
            )
        })
    }

    /// `<crate>::__private`: the root of every generated path.
    pub fn private(&self) -> TokenStream {
        let p = &self.0;
        quote!(#p::__private)
    }

    /// The last segment of the path (`luamod`, or the renamed name), used to
    /// recognise `#[luamod::function]`-style attributes inside a module.
    pub fn name(&self) -> String {
        self.0
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default()
    }
}
