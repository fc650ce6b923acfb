//! Recursive-descent parser for `realtime_trigger NAME { … }`. Every error names the line
//! and column and what was expected there; statements and settings outside rtbox's
//! subset are refused by name.

use std::collections::HashMap;

use super::ast::*;
use super::lexer::{lex, Tok, Token};
use super::XsError;

/// Statements rtbox runs (the names the checker's error message lists).
pub const STATEMENTS: &[&str] = &[
    "var",
    "var.update",
    "conditional",
    "foreach",
    "for",
    "while",
    "precondition",
    "return",
    "try_catch",
    "throw",
    "api.request",
    "api.realtime_event",
    "debug.log",
    "db.get",
    "db.set",
    "db.del",
    "db.query",
    "break",
    "continue",
];

const INPUT_TYPES: &[&str] = &[
    "text",
    "int",
    "decimal",
    "bool",
    "json",
    "object",
    "enum",
    "timestamp",
    "date",
    "email",
    "password",
    "uuid",
    "image",
    "file",
    "attachment",
    "vector",
];

pub struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

/// Nesting of blocks and expressions the parser accepts (the Rhai engine has its own,
/// lower, limit on the generated code).
const MAX_DEPTH: usize = 48;

type PResult<T> = Result<T, XsError>;

impl Parser {
    pub fn new(src: &str) -> PResult<Parser> {
        Ok(Parser {
            toks: lex(src, 1, 1)?,
            i: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.toks[(self.i + n).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        // `peek` clamps, so stepping past the end keeps `i -= 1` (un-read) exact.
        self.i += 1;
        t
    }

    fn pos(&self) -> Pos {
        let t = self.peek();
        Pos {
            line: t.line,
            col: t.col,
        }
    }

    fn err_here(&self, expected: &str) -> XsError {
        let t = self.peek();
        XsError::new(
            t.line,
            t.col,
            format!("expected {expected}, found {}", t.tok.describe()),
        )
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == name)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> PResult<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.err_here(&format!("`{p}`")))
        }
    }

    fn expect_ident(&mut self, what: &str) -> PResult<String> {
        match self.peek().tok.clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.err_here(what)),
        }
    }

    /// A variable name, written `$name` or (as Xano's own examples do in `var x1` and
    /// `each as item`) a bare `name`.
    fn expect_var(&mut self, what: &str) -> PResult<String> {
        match self.peek().tok.clone() {
            Tok::Var(s) | Tok::Ident(s) if !["input", "env", "var"].contains(&s.as_str()) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.err_here(what)),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let p = self.pos();
            return Err(XsError::new(
                p.line,
                p.col,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A dotted name like `api.request`.
    fn dotted_name(&mut self, what: &str) -> PResult<String> {
        let mut name = self.expect_ident(what)?;
        while self.is_punct(".") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
            self.next();
            name.push('.');
            name.push_str(&self.expect_ident("a name")?);
        }
        Ok(name)
    }

    pub fn parse_trigger(&mut self) -> PResult<Trigger> {
        let pos = self.pos();
        match &self.peek().tok {
            Tok::Ident(s) if s == "realtime_trigger" => {
                self.next();
            }
            Tok::Ident(s) => {
                return Err(XsError::new(
                    pos.line,
                    pos.col,
                    format!("expected `realtime_trigger`, found `{s}`: only realtime trigger definitions can be saved here"),
                ))
            }
            _ => return Err(self.err_here("`realtime_trigger`")),
        }
        let name = match self.next().tok {
            Tok::Ident(s) | Tok::Str(s) => s,
            _ => {
                self.i -= 1;
                return Err(self.err_here("the trigger's name"));
            }
        };
        self.expect_punct("{")?;
        let mut def = Definition {
            name,
            description: String::new(),
            channel: None,
            active: None,
            tags: None,
            message: true,
            join: false,
            leave: false,
        };
        let mut stack = None;
        let mut response = None;
        let mut seen: HashMap<String, Pos> = HashMap::new();
        while !self.is_punct("}") {
            let at = self.pos();
            let key = self.expect_ident("a trigger setting (description, channel, active, tags, input, stack, response, actions) or `}`")?;
            if let Some(first) = seen.insert(key.clone(), at) {
                return Err(XsError::new(
                    at.line,
                    at.col,
                    format!("`{key}` is given twice (first at line {})", first.line),
                ));
            }
            match key.as_str() {
                "description" => {
                    self.expect_punct("=")?;
                    def.description = self.string_literal("the description as a string")?;
                }
                "channel" => {
                    self.expect_punct("=")?;
                    def.channel = Some(self.string_literal("the channel name as a string")?);
                }
                "active" => {
                    self.expect_punct("=")?;
                    def.active = Some(self.bool_literal("true or false")?);
                }
                "tags" | "tag" => {
                    self.expect_punct("=")?;
                    let e = self.expr()?;
                    let Expr::Array(items) = e else {
                        return Err(XsError::new(at.line, at.col, "`tags` must be a list of strings"));
                    };
                    let mut tags = Vec::new();
                    for it in items {
                        match it {
                            Expr::Str(s) => tags.push(s),
                            _ => return Err(XsError::new(at.line, at.col, "`tags` must be a list of strings")),
                        }
                    }
                    def.tags = Some(tags);
                }
                "input" => {
                    self.expect_punct("{")?;
                    self.input_fields()?;
                }
                "stack" => {
                    stack = Some(self.block()?);
                }
                "response" => {
                    self.expect_punct("=")?;
                    response = Some(self.expr()?);
                }
                "actions" => {
                    self.expect_punct("=")?;
                    self.actions(&mut def)?;
                }
                "history" | "guid" => {
                    // Settings Xano exports that carry no behaviour here.
                    self.expect_punct("=")?;
                    self.expr()?;
                }
                other => {
                    return Err(XsError::new(
                        at.line,
                        at.col,
                        format!("unknown realtime_trigger setting `{other}` (expected description, channel, active, tags, input, stack, response or actions)"),
                    ))
                }
            }
        }
        self.expect_punct("}")?;
        if !matches!(self.peek().tok, Tok::Eof) {
            return Err(self.err_here("the end of the script after the trigger's closing `}`"));
        }
        Ok(Trigger {
            definition: def,
            stack: stack.unwrap_or_default(),
            response,
            pos,
        })
    }

    fn string_literal(&mut self, what: &str) -> PResult<String> {
        match self.peek().tok.clone() {
            Tok::Str(s) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.err_here(what)),
        }
    }

    fn bool_literal(&mut self, what: &str) -> PResult<bool> {
        match &self.peek().tok {
            Tok::Ident(s) if s == "true" || s == "false" => {
                let b = s == "true";
                self.next();
                Ok(b)
            }
            _ => Err(self.err_here(what)),
        }
    }

    /// `{message: true, join: false}` or the seed's `{connection: true}` (message and join).
    fn actions(&mut self, def: &mut Definition) -> PResult<()> {
        let at = self.pos();
        self.expect_punct("{")?;
        let (mut message, mut join, mut leave) = (false, false, false);
        while !self.is_punct("}") {
            let kpos = self.pos();
            let key = match self.next().tok {
                Tok::Ident(s) | Tok::Str(s) => s,
                _ => {
                    self.i -= 1;
                    return Err(self.err_here("an action name (message, join, leave, connection)"));
                }
            };
            self.expect_punct(":")?;
            let on = self.bool_literal("true or false")?;
            match key.as_str() {
                "message" => message = on,
                "join" => join = on,
                "leave" => leave = on,
                "connection" => {
                    message = on;
                    join = on;
                }
                other => {
                    return Err(XsError::new(
                        kpos.line,
                        kpos.col,
                        format!(
                        "unknown action `{other}` (expected message, join, leave or connection)"
                    ),
                    ))
                }
            }
            self.eat_punct(",");
        }
        self.expect_punct("}")?;
        if !(message || join || leave) {
            return Err(XsError::new(
                at.line,
                at.col,
                "`actions` must enable at least one of message, join, leave",
            ));
        }
        def.message = message;
        def.join = join;
        def.leave = leave;
        Ok(())
    }

    /// `text channel`, `enum action { values = […] }`, `object client { schema { … } }`.
    /// Realtime inputs are predefined; the declaration is validated, not enforced.
    fn input_fields(&mut self) -> PResult<()> {
        self.enter()?;
        while !self.is_punct("}") {
            let at = self.pos();
            let ty =
                self.expect_ident("an input type (text, int, bool, json, object, enum, …) or `}`")?;
            if !INPUT_TYPES.contains(&ty.as_str()) {
                return Err(XsError::new(
                    at.line,
                    at.col,
                    format!("unknown input type `{ty}`"),
                ));
            }
            let line = self.peek().line;
            match self.next().tok {
                Tok::Ident(_) | Tok::Str(_) => {}
                _ => {
                    self.i -= 1;
                    return Err(self.err_here("the input's name"));
                }
            }
            self.eat_punct("?");
            if self.peek().line == line && self.eat_punct("=") {
                self.expr()?;
            }
            if self.peek().line == line && self.is_ident("filters") {
                self.next();
                self.expect_punct("=")?;
                self.expect_ident("a filter name")?;
                while self.eat_punct("|") {
                    self.expect_ident("a filter name")?;
                }
            }
            if self.eat_punct("{") {
                while !self.is_punct("}") {
                    let kpos = self.pos();
                    let key = self.expect_ident("`schema`, `values`, `description` or `}`")?;
                    match key.as_str() {
                        "schema" => {
                            self.expect_punct("{")?;
                            self.input_fields()?;
                        }
                        "values" | "description" | "sensitive" => {
                            self.expect_punct("=")?;
                            self.expr()?;
                        }
                        other => {
                            return Err(XsError::new(kpos.line, kpos.col, format!("unknown input setting `{other}` (expected schema, values or description)")))
                        }
                    }
                }
                self.expect_punct("}")?;
            }
        }
        self.expect_punct("}")?;
        self.leave();
        Ok(())
    }

    /// `{ statements }`
    fn block(&mut self) -> PResult<Vec<Stmt>> {
        self.enter()?;
        self.expect_punct("{")?;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            if matches!(self.peek().tok, Tok::Eof) {
                return Err(self.err_here("`}`"));
            }
            out.push(self.statement()?);
        }
        self.expect_punct("}")?;
        self.leave();
        Ok(out)
    }

    /// `{ key = expr … }` with the keys a statement takes.
    fn attrs(&mut self, stmt: &str, allowed: &[&str]) -> PResult<HashMap<String, (Expr, Pos)>> {
        self.expect_punct("{")?;
        let mut out = HashMap::new();
        while !self.is_punct("}") {
            let at = self.pos();
            let key = self.expect_ident(&format!(
                "a parameter of `{stmt}` ({}) or `}}`",
                allowed.join(", ")
            ))?;
            self.expect_punct("=")?;
            let value = self.expr()?;
            if key == "description" || key == "disabled" {
                continue;
            }
            if !allowed.contains(&key.as_str()) {
                return Err(XsError::new(
                    at.line,
                    at.col,
                    format!(
                        "`{stmt}` has no parameter `{key}` (expected {})",
                        allowed.join(", ")
                    ),
                ));
            }
            out.insert(key, (value, at));
        }
        self.expect_punct("}")?;
        Ok(out)
    }

    fn required(
        attrs: &mut HashMap<String, (Expr, Pos)>,
        key: &str,
        stmt: &str,
        at: Pos,
    ) -> PResult<Expr> {
        attrs
            .remove(key)
            .map(|(e, _)| e)
            .ok_or_else(|| XsError::new(at.line, at.col, format!("`{stmt}` needs `{key} = …`")))
    }

    fn optional(attrs: &mut HashMap<String, (Expr, Pos)>, key: &str) -> Option<Expr> {
        attrs.remove(key).map(|(e, _)| e)
    }

    fn as_target(&mut self) -> PResult<Option<String>> {
        if self.is_ident("as") {
            self.next();
            return self
                .expect_var("a variable after `as` (like `as $result`)")
                .map(Some);
        }
        Ok(None)
    }

    fn paren_expr(&mut self) -> PResult<Expr> {
        self.expect_punct("(")?;
        let e = self.expr()?;
        self.expect_punct(")")?;
        Ok(e)
    }

    /// `{ each as $alias { … } }` of foreach / for.
    fn each_block(&mut self, stmt: &str, alias: bool) -> PResult<(Option<String>, Vec<Stmt>)> {
        self.expect_punct("{")?;
        if !self.is_ident("each") {
            return Err(self.err_here(&format!(
                "`each{}` inside `{stmt}`",
                if alias { " as $item" } else { "" }
            )));
        }
        self.next();
        let name = if alias {
            if !self.is_ident("as") {
                return Err(self.err_here("`as $alias` after `each`"));
            }
            self.next();
            Some(self.expect_var("the loop variable (like `$item`)")?)
        } else {
            None
        };
        let body = self.block()?;
        self.expect_punct("}")?;
        Ok((name, body))
    }

    fn db_table(&mut self, stmt: &str) -> PResult<String> {
        match self.next().tok {
            Tok::Ident(s) | Tok::Str(s) => Ok(s),
            _ => {
                self.i -= 1;
                Err(self.err_here(&format!("the table name after `{stmt}`")))
            }
        }
    }

    fn db_key(attrs: &mut HashMap<String, (Expr, Pos)>, stmt: &str, at: Pos) -> PResult<Expr> {
        if let Some((name, npos)) = attrs.remove("field_name") {
            match name {
                Expr::Str(s) if s == "id" || s == "key" => {}
                _ => {
                    return Err(XsError::new(
                        npos.line,
                        npos.col,
                        format!("`{stmt}`: the trigger key/value store looks records up by `id` only (field_name = \"id\")"),
                    ))
                }
            }
        }
        Self::required(attrs, "field_value", stmt, at)
    }

    fn statement(&mut self) -> PResult<Stmt> {
        let pos = self.pos();
        let name = self.dotted_name("a statement")?;
        let kind = match name.as_str() {
            "var" => {
                let var = self.expect_var("the variable name (like `$x1`)")?;
                let mut a = self.attrs("var", &["value"])?;
                StmtKind::Var {
                    name: var,
                    value: Self::required(&mut a, "value", "var", pos)?,
                }
            }
            "var.update" => {
                let var = self.expect_var("the variable to update (like `$x1`)")?;
                let mut path = Vec::new();
                loop {
                    if self.is_punct(".") {
                        self.next();
                        match self.next().tok {
                            Tok::Ident(s) | Tok::Str(s) => path.push(PathSeg::Key(s)),
                            Tok::Int(i) => path.push(PathSeg::Index(Expr::Int(i))),
                            _ => {
                                self.i -= 1;
                                return Err(self.err_here("a field name after `.`"));
                            }
                        }
                    } else if self.is_punct("[") {
                        self.next();
                        path.push(PathSeg::Index(self.expr()?));
                        self.expect_punct("]")?;
                    } else {
                        break;
                    }
                }
                let mut a = self.attrs("var.update", &["value"])?;
                StmtKind::Update {
                    name: var,
                    path,
                    value: Self::required(&mut a, "value", "var.update", pos)?,
                }
            }
            "conditional" => {
                self.expect_punct("{")?;
                if !self.is_ident("if") {
                    return Err(self.err_here("`if (…) { … }` inside `conditional`"));
                }
                self.next();
                let cond = self.paren_expr()?;
                let mut branches = vec![(cond, self.block()?)];
                let mut otherwise = None;
                loop {
                    if self.is_ident("elseif") {
                        self.next();
                        let c = self.paren_expr()?;
                        branches.push((c, self.block()?));
                    } else if self.is_ident("else") {
                        self.next();
                        if self.is_ident("if") {
                            self.next();
                            let c = self.paren_expr()?;
                            branches.push((c, self.block()?));
                            continue;
                        }
                        otherwise = Some(self.block()?);
                        break;
                    } else {
                        break;
                    }
                }
                if !self.is_punct("}") {
                    return Err(self.err_here("`elseif`, `else` or the `}` closing `conditional`"));
                }
                self.next();
                StmtKind::Conditional { branches, otherwise }
            }
            "foreach" => {
                let list = self.paren_expr()?;
                let (alias, body) = self.each_block("foreach", true)?;
                StmtKind::Foreach {
                    list,
                    alias: alias.unwrap_or_default(),
                    body,
                }
            }
            "for" => {
                let count = self.paren_expr()?;
                let (alias, body) = self.each_block("for", true)?;
                StmtKind::For {
                    count,
                    alias: alias.unwrap_or_default(),
                    body,
                }
            }
            "while" => {
                let cond = self.paren_expr()?;
                let (_, body) = self.each_block("while", false)?;
                StmtKind::While { cond, body }
            }
            "precondition" => {
                let cond = self.paren_expr()?;
                let error = if self.is_punct("{") {
                    let mut a = self.attrs("precondition", &["error_type", "error", "payload"])?;
                    Self::optional(&mut a, "error")
                } else {
                    None
                };
                StmtKind::Precondition { cond, error }
            }
            "return" => {
                let mut a = self.attrs("return", &["value"])?;
                StmtKind::Return {
                    value: Self::required(&mut a, "value", "return", pos)?,
                }
            }
            "try_catch" => {
                self.expect_punct("{")?;
                if !self.is_ident("try") {
                    return Err(self.err_here("`try { … }` inside `try_catch`"));
                }
                self.next();
                let body = self.block()?;
                let mut catch = None;
                let mut finally = None;
                if self.is_ident("catch") {
                    self.next();
                    catch = Some(self.block()?);
                }
                if self.is_ident("finally") {
                    self.next();
                    finally = Some(self.block()?);
                }
                if !self.is_punct("}") {
                    return Err(self.err_here("`catch`, `finally` or the `}` closing `try_catch`"));
                }
                self.next();
                StmtKind::TryCatch { body, catch, finally }
            }
            "throw" => {
                let mut a = self.attrs("throw", &["name", "value"])?;
                StmtKind::Throw {
                    name: Self::optional(&mut a, "name").unwrap_or(Expr::Str("Error".into())),
                    value: Self::required(&mut a, "value", "throw", pos)?,
                }
            }
            "api.request" => {
                let mut a = self.attrs(
                    "api.request",
                    &["url", "method", "params", "headers", "timeout", "verify_host_certificate", "follow_location", "mock"],
                )?;
                let target = self.as_target()?;
                StmtKind::ApiRequest {
                    url: Self::required(&mut a, "url", "api.request", pos)?,
                    method: Self::optional(&mut a, "method").unwrap_or(Expr::Str("GET".into())),
                    params: Self::optional(&mut a, "params").unwrap_or(Expr::Null),
                    headers: Self::optional(&mut a, "headers").unwrap_or(Expr::Null),
                    timeout: Self::optional(&mut a, "timeout"),
                    target,
                }
            }
            "api.realtime_event" => {
                let mut a = self.attrs("api.realtime_event", &["channel", "data", "auth_table", "auth_id"])?;
                StmtKind::RealtimeEvent {
                    channel: Self::required(&mut a, "channel", "api.realtime_event", pos)?,
                    data: Self::optional(&mut a, "data").unwrap_or(Expr::Null),
                }
            }
            "debug.log" => {
                let mut a = self.attrs("debug.log", &["value"])?;
                StmtKind::DebugLog {
                    value: Self::required(&mut a, "value", "debug.log", pos)?,
                }
            }
            "db.get" => {
                let table = self.db_table(&name)?;
                let mut a = self.attrs("db.get", &["field_name", "field_value"])?;
                let key = Self::db_key(&mut a, "db.get", pos)?;
                StmtKind::DbGet { table, key, target: self.as_target()? }
            }
            "db.set" | "db.add_or_edit" | "db.edit" => {
                let table = self.db_table(&name)?;
                let mut a = self.attrs(&name, &["field_name", "field_value", "data"])?;
                let key = Self::db_key(&mut a, &name, pos)?;
                let data = Self::required(&mut a, "data", &name, pos)?;
                StmtKind::DbSet { table, key, data, target: self.as_target()? }
            }
            "db.del" => {
                let table = self.db_table(&name)?;
                let mut a = self.attrs("db.del", &["field_name", "field_value"])?;
                StmtKind::DbDel { key: Self::db_key(&mut a, "db.del", pos)?, table }
            }
            "db.query" => {
                let table = self.db_table(&name)?;
                if self.is_punct("{") {
                    self.attrs("db.query", &["return"])?;
                }
                StmtKind::DbQuery { table, target: self.as_target()? }
            }
            "break" => StmtKind::Break,
            "continue" => StmtKind::Continue,
            other => {
                return Err(XsError::new(
                    pos.line,
                    pos.col,
                    format!(
                        "statement `{other}` is not supported in rtbox realtime triggers (supported: {})",
                        STATEMENTS.join(", ")
                    ),
                ))
            }
        };
        Ok(Stmt { pos, kind })
    }

    // ---- expressions (precedence climbing) ----

    pub fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.ternary();
        self.leave();
        e
    }

    fn ternary(&mut self) -> PResult<Expr> {
        let cond = self.binary(0)?;
        if self.eat_punct("?") {
            let a = self.expr()?;
            self.expect_punct(":")?;
            let b = self.expr()?;
            return Ok(Expr::Ternary(Box::new(cond), Box::new(a), Box::new(b)));
        }
        Ok(cond)
    }

    fn binop(&self) -> Option<(BinOp, u8)> {
        let Tok::Punct(p) = &self.peek().tok else {
            return None;
        };
        Some(match *p {
            "??" => (BinOp::Coalesce, 1),
            "||" => (BinOp::Or, 2),
            "&&" => (BinOp::And, 3),
            "==" | "===" => (BinOp::Eq, 4),
            "!=" | "!==" => (BinOp::Ne, 4),
            "<" => (BinOp::Lt, 5),
            "<=" => (BinOp::Le, 5),
            ">" => (BinOp::Gt, 5),
            ">=" => (BinOp::Ge, 5),
            "~" => (BinOp::Concat, 6),
            "+" => (BinOp::Add, 7),
            "-" => (BinOp::Sub, 7),
            "*" => (BinOp::Mul, 8),
            "/" => (BinOp::Div, 8),
            "%" => (BinOp::Rem, 8),
            _ => return None,
        })
    }

    fn binary(&mut self, min: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binop() {
            if prec < min {
                break;
            }
            self.next();
            self.enter()?;
            let rhs = self.binary(prec + 1)?;
            self.leave();
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        if self.eat_punct("!") {
            self.enter()?;
            let e = self.unary()?;
            self.leave();
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.eat_punct("-") {
            self.enter()?;
            let e = self.unary()?;
            self.leave();
            return Ok(match e {
                Expr::Int(i) => Expr::Int(-i),
                Expr::Float(f) => Expr::Float(-f),
                other => Expr::Neg(Box::new(other)),
            });
        }
        let e = self.postfix()?;
        self.filters(e)
    }

    fn filters(&mut self, mut e: Expr) -> PResult<Expr> {
        while self.is_punct("|") {
            self.next();
            let pos = self.pos();
            let name = self.expect_ident("a filter name after `|`")?;
            let mut args = Vec::new();
            while self.eat_punct(":") {
                self.enter()?;
                let neg = self.eat_punct("-");
                let arg = self.postfix()?;
                self.leave();
                args.push(match (neg, arg) {
                    (false, a) => a,
                    (true, Expr::Int(i)) => Expr::Int(-i),
                    (true, Expr::Float(f)) => Expr::Float(-f),
                    (true, a) => Expr::Neg(Box::new(a)),
                });
            }
            e = Expr::Filter {
                target: Box::new(e),
                name,
                args,
                pos,
            };
        }
        Ok(e)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.is_punct(".") {
                self.next();
                let pos = self.pos();
                let key = match self.next().tok {
                    Tok::Ident(s) | Tok::Str(s) => s,
                    Tok::Var(s) => format!("${s}"),
                    Tok::Int(i) => {
                        e = Expr::Index(Box::new(e), Box::new(Expr::Int(i)));
                        continue;
                    }
                    _ => {
                        self.i -= 1;
                        return Err(self.err_here("a field name after `.`"));
                    }
                };
                e = match e {
                    // `$var.x` is the long form of `$x`.
                    Expr::Var(v, p) if v == "var" => Expr::Var(key, p),
                    other => Expr::Member(Box::new(other), key, pos),
                };
            } else if self.is_punct("[") {
                self.next();
                let idx = self.expr()?;
                self.expect_punct("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.next();
        let pos = Pos {
            line: t.line,
            col: t.col,
        };
        Ok(match t.tok {
            Tok::Int(i) => Expr::Int(i),
            Tok::Float(f) => Expr::Float(f),
            Tok::Str(s) => Expr::Str(s),
            Tok::Ident(s) if s == "true" => Expr::Bool(true),
            Tok::Ident(s) if s == "false" => Expr::Bool(false),
            Tok::Ident(s) if s == "null" => Expr::Null,
            Tok::Var(v) => match v.as_str() {
                "input" => Expr::Input(pos),
                "env" => Expr::Env(pos),
                _ => Expr::Var(v, pos),
            },
            Tok::Backtick(text, line, col) => {
                let mut inner = Parser {
                    toks: lex(&text, line, col)?,
                    i: 0,
                    depth: self.depth,
                };
                let e = inner.expr()?;
                if !matches!(inner.peek().tok, Tok::Eof) {
                    return Err(inner.err_here("the end of the backtick expression"));
                }
                e
            }
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect_punct(")")?;
                e
            }
            Tok::Punct("[") => {
                self.enter()?;
                let mut items = Vec::new();
                while !self.is_punct("]") {
                    items.push(self.expr()?);
                    if !self.eat_punct(",") && !self.is_punct("]") {
                        return Err(self.err_here("`,` or `]`"));
                    }
                }
                self.next();
                self.leave();
                Expr::Array(items)
            }
            Tok::Punct("{") => {
                self.enter()?;
                let mut fields = Vec::new();
                while !self.is_punct("}") {
                    let key = match self.next().tok {
                        Tok::Ident(s) | Tok::Str(s) => s,
                        Tok::Int(i) => i.to_string(),
                        _ => {
                            self.i -= 1;
                            return Err(self.err_here("an object key or `}`"));
                        }
                    };
                    self.expect_punct(":")?;
                    fields.push((key, self.expr()?));
                    // Xano's multi-line objects may omit the commas.
                    self.eat_punct(",");
                }
                self.next();
                self.leave();
                Expr::Object(fields)
            }
            other => {
                self.i -= 1;
                let _ = other;
                return Err(self.err_here("a value (number, string, true/false/null, $variable, [list], {object} or `expression`)"));
            }
        })
    }
}

pub fn parse(src: &str) -> PResult<Trigger> {
    Parser::new(src)?.parse_trigger()
}
