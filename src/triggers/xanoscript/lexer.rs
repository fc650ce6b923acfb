//! Tokens of XanoScript with their 1-based line and column. Backtick expressions are
//! kept as one token holding their text and starting position; the parser lexes that
//! text again (positions preserved) as an expression.

use super::XsError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// `$name` (the name without `$`; `$$x` style names are not XanoScript).
    Var(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// Text between backticks, and where its first character sits.
    Backtick(String, u32, u32),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Var(s) => format!("`${s}`"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Str(_) => "a string".into(),
            Tok::Backtick(..) => "a backtick expression".into(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of the script".into(),
        }
    }
}

const PUNCTS: [&str; 31] = [
    "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "??", "{", "}", "(", ")", "[", "]", ",", ":",
    "=", "<", ">", "+", "-", "*", "/", "%", "!", "|", ".", "~", "?", ";",
];

pub fn lex(src: &str, start_line: u32, start_col: u32) -> Result<Vec<Token>, XsError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, start_line, start_col);
    macro_rules! bump {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            bump!();
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                bump!();
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let (l, co) = (line, col);
            bump!();
            bump!();
            loop {
                if i >= chars.len() {
                    return Err(XsError::new(l, co, "unterminated /* comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    bump!();
                    bump!();
                    break;
                }
                bump!();
            }
            continue;
        }
        let (tl, tc) = (line, col);
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                bump!();
            }
            Tok::Ident(s)
        } else if c == '$' {
            bump!();
            let mut s = String::new();
            // `$env.$remote_ip`-style names keep their inner `$`.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                bump!();
            }
            if s.is_empty() {
                return Err(XsError::new(tl, tc, "expected a variable name after `$`"));
            }
            Tok::Var(s)
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            let mut float = false;
            while i < chars.len() {
                let d = chars[i];
                let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if d.is_ascii_digit() {
                    s.push(d);
                } else if d == '.' && !float && next_digit {
                    float = true;
                    s.push(d);
                } else if (d == 'e' || d == 'E')
                    && (next_digit
                        || (matches!(chars.get(i + 1), Some('+') | Some('-'))
                            && chars.get(i + 2).is_some_and(|n| n.is_ascii_digit())))
                {
                    float = true;
                    s.push(d);
                    bump!();
                    s.push(chars[i]);
                } else {
                    break;
                }
                bump!();
            }
            if float {
                Tok::Float(
                    s.parse()
                        .map_err(|_| XsError::new(tl, tc, format!("invalid number {s}")))?,
                )
            } else {
                Tok::Int(s.parse().map_err(|_| {
                    XsError::new(tl, tc, format!("number {s} does not fit in 64 bits"))
                })?)
            }
        } else if c == '"' || c == '\'' {
            let quote = c;
            bump!();
            let mut s = String::new();
            loop {
                if i >= chars.len() {
                    return Err(XsError::new(tl, tc, "unterminated string"));
                }
                let d = chars[i];
                if d == quote {
                    bump!();
                    break;
                }
                if d == '\\' {
                    bump!();
                    let Some(&e) = chars.get(i) else {
                        return Err(XsError::new(tl, tc, "unterminated string"));
                    };
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '0' => s.push('\0'),
                        'u' => {
                            let hex: String = chars.iter().skip(i + 1).take(4).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    XsError::new(line, col, "expected 4 hex digits after \\u")
                                })?;
                            s.push(code);
                            for _ in 0..4 {
                                bump!();
                            }
                        }
                        other => s.push(other),
                    }
                    bump!();
                    continue;
                }
                s.push(d);
                bump!();
            }
            Tok::Str(s)
        } else if c == '`' {
            bump!();
            let (sl, sc) = (line, col);
            let mut s = String::new();
            loop {
                if i >= chars.len() {
                    return Err(XsError::new(tl, tc, "unterminated backtick expression"));
                }
                if chars[i] == '`' {
                    bump!();
                    break;
                }
                s.push(chars[i]);
                bump!();
            }
            Tok::Backtick(s, sl, sc)
        } else {
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) else {
                return Err(XsError::new(tl, tc, format!("unexpected character {c:?}")));
            };
            for _ in 0..p.chars().count() {
                bump!();
            }
            Tok::Punct(p)
        };
        out.push(Token {
            tok,
            line: tl,
            col: tc,
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_strings_numbers_and_comments() {
        let toks = lex(
            "var $x {\n  value = \"a\\\"b\" // c\n}\n1.5 2e3 `$a > 1`",
            1,
            1,
        )
        .unwrap();
        let kinds: Vec<Tok> = toks.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(kinds[0], Tok::Ident("var".into()));
        assert_eq!(kinds[1], Tok::Var("x".into()));
        assert_eq!(kinds[5], Tok::Str("a\"b".into()));
        assert_eq!((toks[5].line, toks[5].col), (2, 11));
        assert_eq!(kinds[7], Tok::Float(1.5));
        assert_eq!(kinds[8], Tok::Float(2000.0));
        assert_eq!(kinds[9], Tok::Backtick("$a > 1".into(), 4, 10));
        let err = lex("\n  \"open", 1, 1).unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
    }
}
