//! The storage layer's error.

/// Failures of the storage layer. Callers match on `NotFound` / `Conflict`; everything
/// else is an internal error that is logged and hidden from clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("database schema version {found} is newer than this binary supports ({supported}); upgrade rtbox or restore an older backup")]
    NewerSchema { found: i64, supported: i64 },
    #[error("migration {name}: {source}")]
    Migration {
        name: String,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Other(String),
    /// The store is on another node that cannot be reached now (a cluster edge).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// Maps a UNIQUE constraint violation to `Conflict`, so callers can answer 409/400.
    pub fn from_sqlite_unique(err: rusqlite::Error, what: &str) -> StoreError {
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(what.to_string())
            }
            _ => StoreError::Sqlite(err),
        }
    }
}
