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

use crate::store::StoreError;

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
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

pub type OpsResult<T> = Result<T, OpsError>;

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OpsError {
    let path = path.into();
    move |error| OpsError::Io { path, error }
}

/// Gives `file` the owner of `dir` when they differ — a root shell working on the
/// service's data dir must not leave files the service user cannot open.
fn match_owner(file: &std::path::Path, dir: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let (Ok(f), Ok(d)) = (std::fs::metadata(file), std::fs::metadata(dir)) else {
        return;
    };
    if f.uid() != d.uid() || f.gid() != d.gid() {
        if let Err(e) = std::os::unix::fs::chown(file, Some(d.uid()), Some(d.gid())) {
            tracing::warn!(error = %e, file = %file.display(), "cannot give the file the data dir's owner");
        }
    }
}
