//! Wraps generated impls in `const _: () = { ... };` (as serde_derive's
//! `dummy.rs`), so helper items never clash with the user's names.

use proc_macro2::TokenStream;
use quote::quote;

pub fn wrap_in_const(tokens: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #tokens
        };
    }
}
