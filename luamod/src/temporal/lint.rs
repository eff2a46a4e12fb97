//! Refusing, before it ever runs, a workflow script that reads a wall
//! clock by name (`os.time()`, `os["clock"]`): it would read another time
//! on every replay. The scan looks at the script's tokens, so strings and
//! comments never trip it. A script that reaches a clock some other way
//! finds none at run time: a workflow's `os.time`, `os.clock` and
//! `os.date` raise an error saying why.

/// The clocks of `os`.
const CLOCKS: &[&str] = &["time", "clock", "date"];

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Name(&'a str),
    Str(&'a str),
    Punct(u8),
    /// `..` or `...`: not a field access.
    Dots,
}

/// Each direct read of a clock: its line and what it reads (`os.time`).
pub(crate) fn wall_clock_reads(source: &str) -> Vec<(usize, String)> {
    let tokens = tokens(source);
    let token = |j: usize| tokens.get(j).map(|(_, t)| t);
    let mut out = Vec::new();
    for (i, (line, _)) in tokens.iter().enumerate() {
        // Where `os` ends: the name itself, or `require("os")` /
        // `require "os"`, after which a field is read the same way.
        let last = match token(i) {
            // `x.os` is some other table's field, but `_G.os`, `_ENV.os`
            // and `package.loaded.os` are the library.
            Some(Token::Name("os")) => {
                let after_dot = i > 0 && matches!(token(i - 1), Some(Token::Punct(b'.' | b':')));
                let of_globals =
                    i > 1 && matches!(token(i - 2), Some(Token::Name("_G" | "_ENV" | "loaded")));
                if after_dot && !of_globals {
                    continue;
                }
                i
            }
            Some(Token::Name("require")) => match (token(i + 1), token(i + 2), token(i + 3)) {
                (Some(Token::Punct(b'(')), Some(Token::Str("os")), Some(Token::Punct(b')'))) => {
                    i + 3
                }
                (Some(Token::Str("os")), _, _) => i + 1,
                _ => continue,
            },
            _ => continue,
        };
        let field = match (token(last + 1), token(last + 2), token(last + 3)) {
            (Some(Token::Punct(b'.' | b':')), Some(Token::Name(f)), _) => Some(*f),
            (Some(Token::Punct(b'[')), Some(Token::Str(f)), Some(Token::Punct(b']'))) => Some(*f),
            _ => None,
        };
        if let Some(f) = field.filter(|f| CLOCKS.contains(f)) {
            out.push((*line, format!("os.{f}")));
        }
    }
    out
}

/// The level of a long bracket opening at `b[i]` (`[[` is 0, `[==[` is
/// 2), if one does.
fn long_bracket(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'=') {
        j += 1;
    }
    (b.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// The index just past the long bracket of `level` closing at or after
/// `from` (the end of the text if it never closes).
fn skip_long(b: &[u8], from: usize, level: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        if b[i] == b']' {
            let mut j = i + 1;
            while b.get(j) == Some(&b'=') {
                j += 1;
            }
            if j - i - 1 == level && b.get(j) == Some(&b']') {
                return j + 1;
            }
        }
        i += 1;
    }
    b.len()
}

fn tokens(source: &str) -> Vec<(usize, Token<'_>)> {
    let b = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The line of `b[i]`, counted as the scan goes.
    let mut line = 1;
    let mut counted = 0;
    let mut line_at = |i: usize| {
        line += b[counted..i.min(b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        counted = i.min(b.len()).max(counted);
        line
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i += 2;
            if let Some(level) = long_bracket(b, i) {
                i = skip_long(b, i + level + 2, level);
            } else {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
        } else if c == b'"' || c == b'\'' {
            let start = i + 1;
            i += 1;
            while i < b.len() && b[i] != c && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            let end = i.min(b.len());
            let text = source.get(start..end).unwrap_or("");
            out.push((line_at(start), Token::Str(text)));
            i += 1;
        } else if let Some(level) = long_bracket(b, i) {
            let start = i + level + 2;
            let end = skip_long(b, start, level);
            let text_end = end.saturating_sub(level + 2).max(start);
            let text = source.get(start..text_end).unwrap_or("");
            out.push((line_at(start), Token::Str(text)));
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = source.get(start..i).unwrap_or("");
            out.push((line_at(start), Token::Name(name)));
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
        } else if c == b'.' && b.get(i + 1) == Some(&b'.') {
            out.push((line_at(i), Token::Dots));
            i += if b.get(i + 2) == Some(&b'.') { 3 } else { 2 };
        } else {
            out.push((line_at(i), Token::Punct(c)));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(src: &str) -> Vec<String> {
        wall_clock_reads(src)
            .into_iter()
            .map(|(line, what)| format!("{line}:{what}"))
            .collect()
    }

    #[test]
    fn direct_reads_of_a_clock_are_found_with_their_line() {
        assert_eq!(reads("local t = os.time()"), ["1:os.time"]);
        assert_eq!(reads("x = 1\nreturn os . clock ( )"), ["2:os.clock"]);
        assert_eq!(reads("local f = os['date']"), ["1:os.date"]);
        assert_eq!(reads("local f = os[ [[time]] ]"), ["1:os.time"]);
        assert_eq!(reads("local d = os.difftime(2, 1)"), Vec::<String>::new());
        // After a concatenation, and after a number ending in a dot.
        assert_eq!(reads("return 't=' .. os.time()"), ["1:os.time"]);
        assert_eq!(reads("return 1 ..os.clock()"), ["1:os.clock"]);
        assert_eq!(
            reads("local f = function(...) return os.date end"),
            ["1:os.date"]
        );
        assert_eq!(
            reads("a = 1\n\n--[[\n]] b = 'x\\\ny' os.time()"),
            ["5:os.time"]
        );
    }

    #[test]
    fn strings_comments_and_other_tables_fields_are_not_reads() {
        let src = r#"
            -- os.time() in a comment
            --[==[ os.clock() in a long
            comment ]==]
            local s = "os.time()" .. 'os.date' .. [[ os.clock ]]
            local t = { os = {} }
            local n = t.os.time
            local escaped = "\"os.time\""
            return 0x1p4, s, n
        "#;
        assert_eq!(reads(src), Vec::<String>::new());
    }

    #[test]
    fn unterminated_text_ends_the_scan_without_a_panic() {
        for src in [
            "\"os.time",
            "--[[ os.time",
            "[==[ os.time ]=]",
            "os[",
            "os.",
            "\\",
            "[[€",
            "'\\é",
            "\"é\\",
        ] {
            let _ = reads(src);
        }
        assert_eq!(reads("'\\"), Vec::<String>::new());
    }
}
