//! The parsed `realtime_trigger` definition: its settings and its function stack.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Concat,
    Coalesce,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Expr>),
    Object(Vec<(String, Expr)>),
    /// A stack variable (`$x` or `$var.x`).
    Var(String, Pos),
    /// `$input` (the trigger's predefined inputs).
    Input(Pos),
    /// `$env` (only valid followed by `.NAME`).
    Env(Pos),
    Member(Box<Expr>, String, Pos),
    Index(Box<Expr>, Box<Expr>),
    Filter {
        target: Box<Expr>,
        name: String,
        args: Vec<Expr>,
        pos: Pos,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// One step of `var.update $x.a[0]`.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub pos: Pos,
    pub kind: StmtKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    Var {
        name: String,
        value: Expr,
    },
    Update {
        name: String,
        path: Vec<PathSeg>,
        value: Expr,
    },
    Conditional {
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    Foreach {
        list: Expr,
        alias: String,
        body: Vec<Stmt>,
    },
    For {
        count: Expr,
        alias: String,
        body: Vec<Stmt>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    Precondition {
        cond: Expr,
        error: Option<Expr>,
    },
    Return {
        value: Expr,
    },
    TryCatch {
        body: Vec<Stmt>,
        catch: Option<Vec<Stmt>>,
        finally: Option<Vec<Stmt>>,
    },
    Throw {
        name: Expr,
        value: Expr,
    },
    ApiRequest {
        url: Expr,
        method: Expr,
        params: Expr,
        headers: Expr,
        timeout: Option<Expr>,
        target: Option<String>,
    },
    RealtimeEvent {
        channel: Expr,
        data: Expr,
    },
    DebugLog {
        value: Expr,
    },
    DbGet {
        table: String,
        key: Expr,
        target: Option<String>,
    },
    DbSet {
        table: String,
        key: Expr,
        data: Expr,
        target: Option<String>,
    },
    DbDel {
        table: String,
        key: Expr,
    },
    DbQuery {
        table: String,
        target: Option<String>,
    },
    Break,
    Continue,
}

/// What a definition says about the trigger itself (the API fields it sets).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub description: String,
    pub channel: Option<String>,
    pub active: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub message: bool,
    pub join: bool,
    pub leave: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub definition: Definition,
    pub stack: Vec<Stmt>,
    pub response: Option<Expr>,
    pub pos: Pos,
}
