//! One parser for every option list the macros accept: `#[luamod::module(...)]`,
//! `#[luamod::function(...)]`, `#[luamod::userdata(...)]`, `#[lua(...)]` on
//! parameters, fields and methods, `#[command(...)]`.
//!
//! Each caller declares the options it knows and how each is written
//! ([`Kind`]); the parser reads `key`, `key = value` and `key(a, b)` items,
//! reports an unknown key (listing the known ones) or a key given twice on
//! the key itself, and goes on with the next item so every mistake shows.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, LitInt, LitStr, Token, Type};

use crate::ctxt::Ctxt;

/// How an option is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `key`
    Flag,
    /// `key = "text"`
    Str,
    /// `key = 123`
    Int,
    /// `key = <expression>`
    Expr,
    /// `key = <type>`
    Type,
    /// `key = path::to::item` or `key = ident`
    Path,
    /// `key(a, b, ...)`
    List,
}

/// A parsed option value.
pub enum Value {
    Flag,
    Str(LitStr),
    Int(LitInt),
    Expr(Expr),
    Type(Type),
    Path(syn::Path),
    List(Vec<Ident>),
}

/// The options found in one list, in order, each at most once.
#[derive(Default)]
pub struct Options {
    found: Vec<(Ident, Value)>,
}

/// The options a list accepts, and what they are called in messages.
pub struct Schema {
    /// `module`, `function`, `parameter`, ...: "unknown {what} option".
    pub what: &'static str,
    pub keys: &'static [(&'static str, Kind)],
}

impl Options {
    /// Parses `tokens` (the inside of the parentheses).
    pub fn parse(cx: &Ctxt, tokens: TokenStream, schema: &Schema) -> Options {
        let mut out = Options::default();
        let parser = |input: ParseStream| {
            out.parse_items(cx, input, schema);
            Ok(())
        };
        if let Err(e) = parser.parse2(tokens) {
            cx.syn_error(e);
        }
        out
    }

    /// Parses an attribute: `#[path]` (no options) or `#[path(...)]`.
    pub fn from_attr(cx: &Ctxt, attr: &Attribute, schema: &Schema) -> Options {
        match &attr.meta {
            syn::Meta::Path(_) => Options::default(),
            syn::Meta::List(list) => Options::parse(cx, list.tokens.clone(), schema),
            syn::Meta::NameValue(nv) => {
                cx.error_spanned_by(nv, format!("expected `#[{}(...)]`", path_text(&nv.path)));
                Options::default()
            }
        }
    }

    /// Adds the options of another list (a second `#[lua(...)]` on the same
    /// item); a key given in both is reported like a repeated key.
    pub fn merge(&mut self, cx: &Ctxt, other: Options) {
        for (key, value) in other.found {
            self.insert(cx, key, value);
        }
    }

    fn insert(&mut self, cx: &Ctxt, key: Ident, value: Value) {
        if self.found.iter().any(|(k, _)| *k == key) {
            cx.error_spanned_by(&key, format!("duplicate option `{key}`"));
        } else {
            self.found.push((key, value));
        }
    }

    fn parse_items(&mut self, cx: &Ctxt, input: ParseStream, schema: &Schema) {
        while !input.is_empty() {
            let key = match syn::ext::IdentExt::parse_any(input) {
                Ok(k) => k,
                Err(e) => {
                    cx.syn_error(e);
                    return;
                }
            };
            let kind = schema
                .keys
                .iter()
                .find(|(k, _)| key == k)
                .map(|(_, kind)| *kind);
            match kind {
                Some(kind) => match parse_value(input, kind) {
                    Ok(v) => self.insert(cx, key, v),
                    Err(e) => {
                        cx.syn_error(e);
                        skip_item(input);
                    }
                },
                None => {
                    let known: Vec<&str> = schema.keys.iter().map(|(k, _)| *k).collect();
                    cx.error_spanned_by(
                        &key,
                        format!(
                            "unknown {} option `{key}`; expected one of: {}",
                            schema.what,
                            known.join(", ")
                        ),
                    );
                    skip_item(input);
                }
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                cx.syn_error(e);
                return;
            }
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.found.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The key as written (for spans), if given.
    pub fn key(&self, key: &str) -> Option<&Ident> {
        self.found.iter().find(|(k, _)| k == key).map(|(k, _)| k)
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Value::Flag))
    }

    pub fn str(&self, key: &str) -> Option<LitStr> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<LitInt> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(i.clone()),
            _ => None,
        }
    }

    pub fn expr(&self, key: &str) -> Option<Expr> {
        match self.get(key) {
            Some(Value::Expr(e)) => Some(e.clone()),
            _ => None,
        }
    }

    pub fn ty(&self, key: &str) -> Option<Type> {
        match self.get(key) {
            Some(Value::Type(t)) => Some(t.clone()),
            _ => None,
        }
    }

    pub fn path(&self, key: &str) -> Option<syn::Path> {
        match self.get(key) {
            Some(Value::Path(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn list(&self, key: &str) -> Option<&[Ident]> {
        match self.get(key) {
            Some(Value::List(l)) => Some(l),
            _ => None,
        }
    }
}

fn parse_value(input: ParseStream, kind: Kind) -> syn::Result<Value> {
    if kind == Kind::Flag {
        return Ok(Value::Flag);
    }
    if kind == Kind::List {
        let content;
        syn::parenthesized!(content in input);
        let list = Punctuated::<Ident, Token![,]>::parse_terminated_with(
            &content,
            syn::ext::IdentExt::parse_any,
        )?;
        return Ok(Value::List(list.into_iter().collect()));
    }
    input.parse::<Token![=]>()?;
    Ok(match kind {
        Kind::Str => Value::Str(input.parse()?),
        Kind::Int => Value::Int(input.parse()?),
        Kind::Expr => Value::Expr(input.parse()?),
        Kind::Type => Value::Type(input.parse()?),
        Kind::Path => Value::Path(input.parse()?),
        Kind::Flag | Kind::List => Value::Flag,
    })
}

/// Skips what is left of the current item, up to the next top-level comma.
fn skip_item(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn path_text(p: &syn::Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
