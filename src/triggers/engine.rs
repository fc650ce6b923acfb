//! The Rhai engine every trigger runs on: sandbox settings, resource limits, compilation
//! with positioned syntax errors, and the translation of limit errors into reasons an
//! admin can act on.

use std::sync::Arc;
use std::time::Duration;

use rhai::{Engine, EvalAltResult, AST};

use super::host::{self, HostEnv, Stop};
use super::memory;

/// Script-defined function calls may nest this deep (recursion included).
pub const MAX_CALL_LEVELS: usize = 24;
/// Nesting of expressions at top level and inside functions, checked when compiling.
pub const MAX_EXPR_DEPTH: usize = 64;
pub const MAX_FN_EXPR_DEPTH: usize = 32;
pub const MAX_STRING_BYTES: usize = 1024 * 1024;
pub const MAX_ARRAY_LEN: usize = 10_000;
pub const MAX_MAP_LEN: usize = 10_000;
pub const MAX_FUNCTIONS: usize = 256;
pub const MAX_VARIABLES: usize = 1_000;
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    /// Wall time per trigger, not counting awaited HTTP and database time.
    pub timeout: Duration,
}

pub fn build(env: Arc<HostEnv>, limits: Limits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_ARRAY_LEN)
        .set_max_map_size(MAX_MAP_LEN)
        .set_max_functions(MAX_FUNCTIONS)
        .set_max_variables(MAX_VARIABLES)
        .set_max_modules(0);
    // The default resolver reads script files from disk; a trigger has no business there.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    // Both would otherwise write to the server's stdout.
    engine.on_print(host::push_log);
    engine.on_debug(|text, _source, _pos| host::push_log(text));
    engine.on_progress(host::on_progress);
    host::register(&mut engine, env);
    super::xanoscript::runtime::register(&mut engine, super::xanoscript::runtime::env_snapshot());
    engine
}

/// A compile error with the 1-based position the editor can point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Syntax error at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

pub fn compile(engine: &Engine, script: &str) -> Result<AST, SyntaxError> {
    if script.len() > MAX_SCRIPT_BYTES {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: format!("the script is larger than {} KiB", MAX_SCRIPT_BYTES / 1024),
        });
    }
    engine.compile(script).map_err(|err| {
        let pos = err.position();
        SyntaxError {
            line: pos.line().unwrap_or(1),
            column: pos.position().unwrap_or(1),
            message: err.err_type().to_string(),
        }
    })
}

/// Why a run failed, worded for the run log and the `trigger_error` reply.
pub fn describe_error(err: &EvalAltResult, limits: &Limits, stopped: Option<Stop>) -> String {
    let at = |pos: rhai::Position| match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    };
    match err {
        EvalAltResult::ErrorTerminated(..) if stopped == Some(Stop::WallTime) => format!(
            "wall time limit exceeded ({} ms)",
            limits.timeout.as_millis()
        ),
        EvalAltResult::ErrorTerminated(..) if stopped == Some(Stop::Memory) => format!(
            "memory limit exceeded ({} MiB per run)",
            memory::MAX_RUN_BYTES / (1024 * 1024)
        ),
        EvalAltResult::ErrorTooManyOperations(pos) => format!(
            "operation limit exceeded ({} operations){}",
            limits.max_operations,
            at(*pos)
        ),
        EvalAltResult::ErrorStackOverflow(pos) => format!(
            "call depth limit exceeded (at most {MAX_CALL_LEVELS} nested calls){}",
            at(*pos)
        ),
        EvalAltResult::ErrorDataTooLarge(what, pos) => {
            let limit = match what.as_str() {
                w if w.contains("ength of string") || w.contains("String") => {
                    format!("{MAX_STRING_BYTES} bytes")
                }
                w if w.contains("rray") => format!("{MAX_ARRAY_LEN} elements"),
                w if w.contains("ap") => format!("{MAX_MAP_LEN} entries"),
                _ => "the configured limit".into(),
            };
            format!(
                "size limit exceeded: {what} is larger than {limit}{}",
                at(*pos)
            )
        }
        EvalAltResult::ErrorTooManyVariables(pos) => {
            format!("too many variables (at most {MAX_VARIABLES}){}", at(*pos))
        }
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) if !name.is_empty() => {
            format!(
                "in function {name}: {}",
                describe_error(inner, limits, stopped)
            )
        }
        EvalAltResult::ErrorRuntime(value, pos) => match value.read_lock::<rhai::Map>() {
            // A XanoScript `throw { name, value }` (or a Rhai `throw #{name, message}`).
            Some(m) if m.contains_key("message") => {
                let name = m.get("name").map(|n| n.to_string()).unwrap_or_default();
                let message = m.get("message").map(|n| n.to_string()).unwrap_or_default();
                if name.is_empty() {
                    format!("{message}{}", at(*pos))
                } else {
                    format!("{name}: {message}{}", at(*pos))
                }
            }
            _ => format!("{value}{}", at(*pos)),
        },
        other => other.to_string(),
    }
}
