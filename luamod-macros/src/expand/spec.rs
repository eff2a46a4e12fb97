//! What the export generator needs to know about one export.

use proc_macro2::{Span, TokenStream};
use quote::format_ident;
use syn::{Ident, LitStr, Member, Type};

use crate::ast::param::Param;

/// What an export does between reading its arguments and pushing results.
pub enum Body<'a> {
    /// Calls `path(args...)` with the parameters read from Lua.
    Call {
        path: TokenStream,
        params: &'a [Param],
        /// The self type and whether the receiver is `&mut self`.
        receiver: Option<(Type, bool)>,
    },
    /// Returns a clone of field `member` of the object (argument 1).
    Get {
        self_ty: Type,
        member: Member,
        ty: Type,
    },
    /// Sets field `member` of the object (argument 1) to argument 2.
    Set {
        self_ty: Type,
        member: Member,
        ty: Type,
    },
}

pub struct ExportSpec<'a> {
    /// `<crate>::__private`.
    pub p: TokenStream,
    pub export_ident: Ident,
    /// Expression for `ExportInfo::owner`: a function returning the module
    /// or class name.
    pub info_module: TokenStream,
    pub lua_name: String,
    pub body: Body<'a>,
    /// Where a return-type error is reported.
    pub ret_span: Span,
    /// The Rust return type (`None`: `()`), with `Self` already replaced.
    pub ret_ty: Option<Type>,
    /// `returns = "..."`.
    pub returns_override: Option<LitStr>,
    /// The doc comment, possibly with a `# Arguments` list.
    pub doc: String,
    /// Whether calling it suspends the process (a yield).
    pub is_async: bool,
    /// Whether `path` is an `async fn`'s generated shim (which takes the
    /// module state as an `Arc`).
    pub async_shim: bool,
    /// `permission = "..."` and the resource parameter's name.
    pub permission: Option<(LitStr, Option<Ident>)>,
    /// A `#[lua(set)]` method: Lua sees a field, so errors read as a
    /// field's.
    pub setter_method: bool,
}

impl ExportSpec<'_> {
    pub fn sig_ident(&self) -> Ident {
        format_ident!("{}__sig", self.export_ident)
    }

    pub fn is_setter(&self) -> bool {
        self.setter_method || matches!(self.body, Body::Set { .. })
    }
}
