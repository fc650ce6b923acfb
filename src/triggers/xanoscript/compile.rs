//! Checks a parsed trigger against rtbox's subset and emits the equivalent Rhai script,
//! plus a map from each generated line back to the XanoScript line it came from (so run
//! errors point at the user's source).
//!
//! Stack variables are function-wide in XanoScript, so every `$name` is declared once at
//! the top (`let v_name = ();`) and statements assign to it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::ast::*;
use super::runtime;
use super::XsError;

/// Fields of `$input` in a realtime trigger, each a variable of the Rhai scope.
const INPUTS: &[&str] = &[
    "action", "command", "channel", "room", "client", "options", "payload",
];

pub struct Output {
    pub rhai: String,
    /// `line_map[i]` is the XanoScript line of generated line `i + 1`.
    pub line_map: Vec<u32>,
}

struct Gen {
    out: String,
    line_map: Vec<u32>,
    vars: BTreeSet<String>,
    loop_depth: usize,
    indent: usize,
}

fn rust_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn var_name(n: &str) -> String {
    format!("v_{n}")
}

fn collect(stmts: &[Stmt], vars: &mut BTreeSet<String>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Var { name, .. } => {
                vars.insert(name.clone());
            }
            StmtKind::Conditional {
                branches,
                otherwise,
            } => {
                for (_, b) in branches {
                    collect(b, vars);
                }
                if let Some(b) = otherwise {
                    collect(b, vars);
                }
            }
            StmtKind::Foreach { alias, body, .. } | StmtKind::For { alias, body, .. } => {
                vars.insert(alias.clone());
                collect(body, vars);
            }
            StmtKind::While { body, .. } => collect(body, vars),
            StmtKind::TryCatch {
                body,
                catch,
                finally,
            } => {
                collect(body, vars);
                if let Some(c) = catch {
                    vars.insert("error".into());
                    collect(c, vars);
                }
                if let Some(f) = finally {
                    collect(f, vars);
                }
            }
            StmtKind::ApiRequest {
                target: Some(t), ..
            }
            | StmtKind::DbGet {
                target: Some(t), ..
            }
            | StmtKind::DbSet {
                target: Some(t), ..
            }
            | StmtKind::DbQuery {
                target: Some(t), ..
            } => {
                vars.insert(t.clone());
            }
            _ => {}
        }
    }
}

fn valid_table(table: &str, pos: Pos) -> Result<(), XsError> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(XsError::new(
            pos.line,
            pos.col,
            format!("table name `{table}` must be 1 to 64 letters, digits, - or _"),
        ))
    }
}

impl Gen {
    fn line(&mut self, xs_line: u32, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.line_map.push(xs_line);
    }

    fn is_boolish(e: &Expr) -> bool {
        match e {
            Expr::Bool(_) | Expr::Not(_) => true,
            Expr::Binary(op, ..) => matches!(
                op,
                BinOp::Or
                    | BinOp::And
                    | BinOp::Eq
                    | BinOp::Ne
                    | BinOp::Lt
                    | BinOp::Le
                    | BinOp::Gt
                    | BinOp::Ge
            ),
            Expr::Filter { name, .. } => runtime::filter(name).is_some_and(|f| f.boolean),
            _ => false,
        }
    }

    fn cond(&self, e: &Expr) -> Result<String, XsError> {
        let c = self.expr(e)?;
        Ok(if Self::is_boolish(e) {
            c
        } else {
            format!("xs_truthy({c})")
        })
    }

    fn expr(&self, e: &Expr) -> Result<String, XsError> {
        Ok(match e {
            Expr::Null => "()".into(),
            Expr::Bool(b) => b.to_string(),
            Expr::Int(i) if *i == i64::MIN => format!("({} - 1)", i64::MIN + 1),
            Expr::Int(i) if *i < 0 => format!("({i})"),
            Expr::Int(i) => i.to_string(),
            Expr::Float(f) if !f.is_finite() => {
                return Err(XsError::new(1, 1, "number out of range"));
            }
            Expr::Float(f) => {
                let s = format!("{f:?}");
                let s = if s.contains('.') || s.contains('e') {
                    s
                } else {
                    format!("{s}.0")
                };
                if *f < 0.0 {
                    format!("({s})")
                } else {
                    s
                }
            }
            Expr::Str(s) => rust_str(s),
            Expr::Array(items) => {
                let parts: Result<Vec<String>, XsError> =
                    items.iter().map(|i| self.expr(i)).collect();
                format!("[{}]", parts?.join(", "))
            }
            Expr::Object(fields) => {
                let mut parts = Vec::new();
                for (k, v) in fields {
                    parts.push(format!("{}: {}", rust_str(k), self.expr(v)?));
                }
                format!("#{{{}}}", parts.join(", "))
            }
            Expr::Var(name, pos) => {
                if !self.vars.contains(name) {
                    return Err(XsError::new(
                        pos.line,
                        pos.col,
                        format!("unknown variable `${name}` (declare it with `var ${name} {{ value = … }}` first)"),
                    ));
                }
                var_name(name)
            }
            Expr::Input(_) => {
                let parts: Vec<String> = INPUTS.iter().map(|f| format!("{f}: {f}")).collect();
                format!("#{{{}}}", parts.join(", "))
            }
            Expr::Env(pos) => {
                return Err(XsError::new(
                    pos.line,
                    pos.col,
                    "`$env` must be followed by a variable name, like `$env.API_URL`",
                ));
            }
            Expr::Member(target, key, pos) => match target.as_ref() {
                Expr::Input(_) => {
                    if !INPUTS.contains(&key.as_str()) {
                        return Err(XsError::new(
                            pos.line,
                            pos.col,
                            format!("`$input.{key}` is not an input of realtime triggers (action, channel, client, options, payload)"),
                        ));
                    }
                    key.clone()
                }
                Expr::Env(_) => format!("xs_env({})", rust_str(key)),
                other => format!("{}?[{}]", self.postfix_target(other)?, rust_str(key)),
            },
            Expr::Index(target, idx) => {
                format!("xs_index({}, {})", self.expr(target)?, self.expr(idx)?)
            }
            Expr::Filter {
                target,
                name,
                args,
                pos,
            } => {
                let Some(spec) = runtime::filter(name) else {
                    return Err(XsError::new(
                        pos.line,
                        pos.col,
                        format!("filter `{name}` is not supported in rtbox realtime triggers (see the README's XanoScript section for the list)"),
                    ));
                };
                if args.len() < spec.min || args.len() > spec.max {
                    let want = if spec.min == spec.max {
                        format!("{}", spec.min)
                    } else {
                        format!("{} to {}", spec.min, spec.max)
                    };
                    return Err(XsError::new(
                        pos.line,
                        pos.col,
                        format!(
                            "filter `{name}` takes {want} argument(s), {} given",
                            args.len()
                        ),
                    ));
                }
                let mut parts = vec![self.expr(target)?];
                for a in args {
                    parts.push(self.expr(a)?);
                }
                while parts.len() < spec.max + 1 {
                    parts.push("()".into());
                }
                format!("xs_f_{name}({})", parts.join(", "))
            }
            Expr::Not(inner) => format!("!({})", self.cond(inner)?),
            Expr::Neg(inner) => format!("(-{})", self.expr(inner)?),
            Expr::Ternary(c, a, b) => format!(
                "(if {} {{ {} }} else {{ {} }})",
                self.cond(c)?,
                self.expr(a)?,
                self.expr(b)?
            ),
            Expr::Binary(op, a, b) => {
                let (x, y) = match op {
                    BinOp::And | BinOp::Or => (self.cond(a)?, self.cond(b)?),
                    _ => (self.expr(a)?, self.expr(b)?),
                };
                match op {
                    BinOp::Or => format!("({x} || {y})"),
                    BinOp::And => format!("({x} && {y})"),
                    BinOp::Eq => format!("({x} == {y})"),
                    BinOp::Ne => format!("({x} != {y})"),
                    BinOp::Lt => format!("({x} < {y})"),
                    BinOp::Le => format!("({x} <= {y})"),
                    BinOp::Gt => format!("({x} > {y})"),
                    BinOp::Ge => format!("({x} >= {y})"),
                    BinOp::Add => format!("({x} + {y})"),
                    BinOp::Sub => format!("({x} - {y})"),
                    BinOp::Mul => format!("({x} * {y})"),
                    BinOp::Div => format!("xs_div({x}, {y})"),
                    BinOp::Rem => format!("({x} % {y})"),
                    BinOp::Concat => format!("xs_concat({x}, {y})"),
                    BinOp::Coalesce => format!("({x} ?? {y})"),
                }
            }
        })
    }

    /// A target of `?[…]` must be a simple postfix expression in Rhai.
    fn postfix_target(&self, e: &Expr) -> Result<String, XsError> {
        let s = self.expr(e)?;
        Ok(match e {
            Expr::Var(..) | Expr::Member(..) | Expr::Index(..) | Expr::Filter { .. } => s,
            _ => format!("({s})"),
        })
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<(), XsError> {
        self.indent += 1;
        for s in stmts {
            self.stmt(s)?;
        }
        self.indent -= 1;
        Ok(())
    }

    fn assign_target(&self, target: &Option<String>) -> String {
        target
            .as_ref()
            .map(|t| format!("{} = ", var_name(t)))
            .unwrap_or_default()
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), XsError> {
        let l = s.pos.line;
        match &s.kind {
            StmtKind::Var { name, value } => {
                let v = self.expr(value)?;
                self.line(l, &format!("{} = {v};", var_name(name)));
            }
            StmtKind::Update { name, path, value } => {
                if !self.vars.contains(name) {
                    return Err(XsError::new(
                        s.pos.line,
                        s.pos.col,
                        format!(
                            "var.update: unknown variable `${name}` (declare it with `var` first)"
                        ),
                    ));
                }
                let mut target = var_name(name);
                for seg in path {
                    match seg {
                        PathSeg::Key(k) => {
                            let _ = write!(target, "[{}]", rust_str(k));
                        }
                        PathSeg::Index(e) => {
                            let _ = write!(target, "[{}]", self.expr(e)?);
                        }
                    }
                }
                let v = self.expr(value)?;
                self.line(l, &format!("{target} = {v};"));
            }
            StmtKind::Conditional {
                branches,
                otherwise,
            } => {
                for (i, (c, body)) in branches.iter().enumerate() {
                    let c = self.cond(c)?;
                    let head = if i == 0 {
                        format!("if {c} {{")
                    } else {
                        format!("}} else if {c} {{")
                    };
                    self.line(l, &head);
                    self.block(body)?;
                }
                if let Some(body) = otherwise {
                    self.line(l, "} else {");
                    self.block(body)?;
                }
                self.line(l, "}");
            }
            StmtKind::Foreach { list, alias, body } => {
                let list = self.expr(list)?;
                self.line(l, &format!("for x_item in xs_iter({list}) {{"));
                self.indent += 1;
                self.line(l, &format!("{} = x_item;", var_name(alias)));
                self.indent -= 1;
                self.loop_body(body)?;
                self.line(l, "}");
            }
            StmtKind::For { count, alias, body } => {
                let count = self.expr(count)?;
                self.line(l, &format!("for x_index in 0..xs_int({count}) {{"));
                self.indent += 1;
                self.line(l, &format!("{} = x_index;", var_name(alias)));
                self.indent -= 1;
                self.loop_body(body)?;
                self.line(l, "}");
            }
            StmtKind::While { cond, body } => {
                let c = self.cond(cond)?;
                self.line(l, &format!("while {c} {{"));
                self.loop_body(body)?;
                self.line(l, "}");
            }
            StmtKind::Precondition { cond, error } => {
                let c = self.cond(cond)?;
                let msg = match error {
                    Some(e) => format!("xs_text({})", self.expr(e)?),
                    None => rust_str("Precondition failed."),
                };
                self.line(l, &format!("if !({c}) {{ reject({msg}); }}"));
            }
            StmtKind::Return { value } => {
                let v = self.expr(value)?;
                self.line(l, &format!("return {v};"));
            }
            StmtKind::TryCatch {
                body,
                catch,
                finally,
            } => {
                self.line(l, "try {");
                self.block(body)?;
                self.line(l, "} catch (x_err) {");
                self.indent += 1;
                match catch {
                    Some(c) => {
                        self.line(l, "v_error = xs_error(x_err);");
                        self.indent -= 1;
                        self.block(c)?;
                    }
                    None => {
                        // try/finally: run the finally steps, then let the error go on.
                        if let Some(f) = finally {
                            self.indent -= 1;
                            self.block(f)?;
                            self.indent += 1;
                        }
                        self.line(l, "throw x_err;");
                        self.indent -= 1;
                    }
                }
                self.line(l, "}");
                if let Some(f) = finally {
                    for st in f {
                        self.stmt(st)?;
                    }
                }
            }
            StmtKind::Throw { name, value } => {
                let (n, v) = (self.expr(name)?, self.expr(value)?);
                self.line(l, &format!("throw xs_throw({n}, {v});"));
            }
            StmtKind::ApiRequest {
                url,
                method,
                params,
                headers,
                timeout,
                target,
            } => {
                let (u, m, p, h) = (
                    self.expr(url)?,
                    self.expr(method)?,
                    self.expr(params)?,
                    self.expr(headers)?,
                );
                let t = match timeout {
                    Some(t) => self.expr(t)?,
                    None => "()".into(),
                };
                let assign = self.assign_target(target);
                self.line(l, &format!("{assign}{{ let x_u = {u}; let x_m = xs_method({m}); let x_p = {p}; let x_h = {h};"));
                self.indent += 1;
                self.line(l, "xs_api_result(http(x_m, xs_url(x_u, x_m, x_p), xs_body(x_m, x_p), xs_http_opts(x_h, ");
                self.line(l, &format!("{t})), x_u, x_m, x_p, x_h) }};"));
                self.indent -= 1;
            }
            StmtKind::RealtimeEvent { channel, data } => {
                let (c, d) = (self.expr(channel)?, self.expr(data)?);
                self.line(l, &format!("event(xs_text({c}), {d});"));
            }
            StmtKind::DebugLog { value } => {
                let v = self.expr(value)?;
                self.line(l, &format!("log({v});"));
            }
            StmtKind::DbGet { table, key, target } => {
                valid_table(table, s.pos)?;
                let k = self.expr(key)?;
                let assign = self.assign_target(target);
                self.line(
                    l,
                    &format!("{assign}kv_get(xs_db_key({}, {k}));", rust_str(table)),
                );
            }
            StmtKind::DbSet {
                table,
                key,
                data,
                target,
            } => {
                valid_table(table, s.pos)?;
                let (k, d) = (self.expr(key)?, self.expr(data)?);
                let assign = self.assign_target(target);
                self.line(
                    l,
                    &format!(
                        "{assign}{{ let x_d = {d}; kv_set(xs_db_key({}, {k}), x_d); x_d }};",
                        rust_str(table)
                    ),
                );
            }
            StmtKind::DbDel { table, key } => {
                valid_table(table, s.pos)?;
                let k = self.expr(key)?;
                self.line(
                    l,
                    &format!("kv_set(xs_db_key({}, {k}), ());", rust_str(table)),
                );
            }
            StmtKind::DbQuery { table, target } => {
                valid_table(table, s.pos)?;
                let assign = self.assign_target(target);
                self.line(
                    l,
                    &format!(
                        "{assign}xs_records(kv_list({}));",
                        rust_str(&format!("{table}/"))
                    ),
                );
            }
            StmtKind::Break | StmtKind::Continue => {
                let word = if s.kind == StmtKind::Break {
                    "break"
                } else {
                    "continue"
                };
                if self.loop_depth == 0 {
                    return Err(XsError::new(
                        s.pos.line,
                        s.pos.col,
                        format!("`{word}` outside a loop"),
                    ));
                }
                self.line(l, &format!("{word};"));
            }
        }
        Ok(())
    }

    fn loop_body(&mut self, body: &[Stmt]) -> Result<(), XsError> {
        self.loop_depth += 1;
        let r = self.block(body);
        self.loop_depth -= 1;
        r
    }
}

pub fn compile(t: &Trigger) -> Result<Output, XsError> {
    let mut vars = BTreeSet::new();
    collect(&t.stack, &mut vars);
    let mut g = Gen {
        out: String::new(),
        line_map: Vec::new(),
        vars,
        loop_depth: 0,
        indent: 0,
    };
    if !g.vars.is_empty() {
        let decls: Vec<String> = g
            .vars
            .iter()
            .map(|v| format!("let {} = ();", var_name(v)))
            .collect();
        g.line(t.pos.line, &decls.join(" "));
    }
    for s in &t.stack {
        g.stmt(s)?;
    }
    match &t.response {
        Some(r) => {
            let v = g.expr(r)?;
            g.line(t.pos.line, &v);
        }
        None => g.line(t.pos.line, "()"),
    }
    Ok(Output {
        rhai: g.out,
        line_map: g.line_map,
    })
}
