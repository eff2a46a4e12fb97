//! Parsing the LuaLS type syntax used by `#[lua(type = "...")]`:
//! `string`, `integer?`, `A|B`, `T[]`, `table<K, V>`, `{ a: T, b?: U }`,
//! `fun(x: T, ...: U): R, S`, `"literal"`, `mod.Name`, `(T)`.

use std::fmt;

use crate::ty::Field;
use crate::ty::{FunctionType, Param, Type};

/// A malformed type expression, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the input.
    pub offset: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

impl Type {
    /// Parses a LuaLS type expression.
    ///
    /// ```
    /// use luamod_types::Type;
    /// assert_eq!(Type::parse("integer?").unwrap(), Type::Integer.optional());
    /// assert!(Type::parse("table<string").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Type, ParseError> {
        let mut p = Parser { s, pos: 0 };
        let t = p.union()?;
        p.ws();
        if p.pos != s.len() {
            return Err(p.err("end of type"));
        }
        Ok(t)
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> ParseError {
        ParseError {
            offset: self.pos,
            message: format!("expected {what}"),
        }
    }

    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), ParseError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.err(&format!("`{tok}`")))
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.ws();
        let rest = &self.s[self.pos..];
        let len = rest
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_' || (*i > 0 && *c == '.')))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let start = self.pos;
        self.pos += len;
        Some(self.s[start..self.pos].to_owned())
    }

    fn union(&mut self) -> Result<Type, ParseError> {
        let mut alts = vec![self.postfix()?];
        while self.eat("|") {
            alts.push(self.postfix()?);
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Type::Union { of: alts }
        })
    }

    fn postfix(&mut self) -> Result<Type, ParseError> {
        let mut t = self.primary()?;
        loop {
            if self.eat("[]") {
                t = t.array();
            } else if self.eat("?") {
                t = t.optional();
            } else {
                return Ok(t);
            }
        }
    }

    fn primary(&mut self) -> Result<Type, ParseError> {
        if self.eat("(") {
            let t = self.union()?;
            self.expect(")")?;
            return Ok(t);
        }
        if self.eat("\"") {
            let start = self.pos;
            let end = self.s[start..]
                .find('"')
                .ok_or_else(|| self.err("closing `\"`"))?;
            self.pos = start + end + 1;
            return Ok(Type::Literal {
                value: self.s[start..start + end].to_owned(),
            });
        }
        if self.eat("{") {
            return self.record();
        }
        let Some(name) = self.ident() else {
            return Err(self.err("a type"));
        };
        Ok(match name.as_str() {
            "nil" => Type::Nil,
            "boolean" => Type::Boolean,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "string" => Type::String,
            "any" => Type::Any,
            "unknown" => Type::Unknown,
            "thread" => Type::Thread,
            "userdata" => Type::Userdata,
            "function" => Type::Function(Box::new(FunctionType {
                variadic: Some(Type::Any),
                variadic_returns: Some(Type::Any),
                ..FunctionType::default()
            })),
            "errors.Error" => Type::Error,
            "table" => {
                if self.eat("<") {
                    let k = self.union()?;
                    self.expect(",")?;
                    let v = self.union()?;
                    self.expect(">")?;
                    Type::map(k, v)
                } else {
                    Type::Table
                }
            }
            "fun" => self.function()?,
            _ => Type::named(name),
        })
    }

    fn record(&mut self) -> Result<Type, ParseError> {
        let mut fields = Vec::new();
        while !self.eat("}") {
            let Some(name) = self.ident() else {
                return Err(self.err("a field name"));
            };
            let optional = self.eat("?");
            self.expect(":")?;
            let ty = self.union()?;
            fields.push(Field {
                name,
                ty,
                optional,
                readonly: false,
                doc: String::new(),
            });
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(Type::Record { fields })
    }

    fn function(&mut self) -> Result<Type, ParseError> {
        self.expect("(")?;
        let mut f = FunctionType::default();
        while !self.eat(")") {
            if self.eat("...") {
                self.expect(":")?;
                f.variadic = Some(self.union()?);
                self.expect(")")?;
                break;
            }
            let Some(name) = self.ident() else {
                return Err(self.err("a parameter name"));
            };
            let optional = self.eat("?");
            self.expect(":")?;
            let ty = self.union()?;
            f.params.push(Param {
                name,
                ty,
                optional,
                doc: String::new(),
            });
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        if self.eat(":") {
            loop {
                if self.eat("...") {
                    f.variadic_returns = Some(Type::Any);
                    break;
                }
                f.returns.push(self.postfix_in_returns()?);
                if !self.eat(",") {
                    break;
                }
            }
        }
        Ok(Type::Function(Box::new(f)))
    }

    fn postfix_in_returns(&mut self) -> Result<Type, ParseError> {
        self.union()
    }
}
