//! Operating an installation from the shell: the data-dir lock that `serve` holds,
//! backups (one-off, rotated, scheduled), restore, `doctor` checks, the container health
//! probe and the open-file limit. Nothing here knows about HTTP routes or the CLI parser;
//! `main.rs` prints what these functions report.

pub mod backup;
pub mod doctor;
pub mod health;
pub mod limits;
pub mod lock;
pub mod restore;

use std::path::PathBuf;

use crate::error::StoreError;

/// Failures of an operations command, each with what the operator should do.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(
        "a server is running on {dir} ({holder}); stop it first (e.g. `systemctl stop rtbox`)"
    )]
    ServerRunning { dir: PathBuf, holder: String },
    #[error("{path} is not an rtbox database: {reason}")]
    NotADatabase { path: PathBuf, reason: String },
    #[error("{path} fails PRAGMA integrity_check: {report}")]
    Corrupt { path: PathBuf, report: String },
    #[error("{path} has schema version {found}, newer than this rtbox supports ({supported}); upgrade rtbox first")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

pub type OpsResult<T> = Result<T, OpsError>;

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OpsError {
    let path = path.into();
    move |source| OpsError::Io { path, source }
}
