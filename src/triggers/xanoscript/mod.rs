//! XanoScript `realtime_trigger` definitions, compiled to Rhai so that they run on the
//! same engine as every other trigger: the same limits, host functions, test runner and
//! run log. `translate` parses, checks the subset and emits the Rhai script plus a line
//! map that points run errors back at the XanoScript source.

pub mod ast;
pub mod compile;
pub mod lexer;
pub mod parser;
pub mod runtime;

pub use ast::Definition;

/// A parse or subset error at a 1-based position of the XanoScript source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl XsError {
    pub fn new(line: u32, column: u32, message: impl Into<String>) -> XsError {
        XsError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for XsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "XanoScript error at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A definition ready to store and run.
#[derive(Debug, Clone)]
pub struct Translation {
    pub definition: Definition,
    pub rhai: String,
    pub line_map: Vec<u32>,
}

pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

pub fn translate(source: &str) -> Result<Translation, XsError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(XsError::new(
            1,
            1,
            format!("the script is larger than {} KiB", MAX_SOURCE_BYTES / 1024),
        ));
    }
    let trigger = parser::parse(source)?;
    let out = compile::compile(&trigger)?;
    Ok(Translation {
        definition: trigger.definition,
        rhai: out.rhai,
        line_map: out.line_map,
    })
}

/// Rewrites `(line N, column C)` positions of the generated Rhai in a run error into
/// the XanoScript line they came from.
pub fn map_error_lines(message: &str, line_map: &[u32]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("(line ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 6..];
        let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
        let close = tail.find(')');
        match (digits.parse::<usize>(), close) {
            (Ok(n), Some(close)) if n >= 1 && n <= line_map.len() => {
                out.push_str(&format!("(line {}", line_map[n - 1]));
                out.push(')');
                rest = &tail[close + 1..];
            }
            _ => {
                out.push_str("(line ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
