//! `rtbox restore FILE`: checks a backup (opens as SQLite, `PRAGMA integrity_check`, an
//! rtbox schema this binary can run), then — holding the data-dir lock, so no server can
//! be running or start meanwhile — moves the current database aside and puts a copy of
//! the backup in its place. Nothing is touched until the backup has passed every check.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::backup::sync_parent;
use super::lock::DataDirLock;
use super::{io_err, match_owner, OpsError, OpsResult};
use crate::config::DB_FILE;
use crate::store::{migrate, sidecar};

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub db: PathBuf,
    /// Where the previous database went (with its `-wal`, if it had one).
    pub previous: Option<PathBuf>,
    /// Schema version of the backup; `serve` migrates it to the newest at start.
    pub schema_version: i64,
}

/// What [`check_backup`] found out about a file.
#[derive(Debug)]
pub struct BackupInfo {
    pub schema_version: i64,
}

/// Verifies that `file` is an intact rtbox database this binary can run.
pub fn check_backup(file: &Path) -> OpsResult<BackupInfo> {
    let meta = std::fs::metadata(file).map_err(io_err(file))?;
    if !meta.is_file() {
        return Err(OpsError::NotADatabase {
            path: file.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let not_db = |reason: String| OpsError::NotADatabase {
        path: file.to_path_buf(),
        reason,
    };
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| not_db(e.to_string()))?;
    let report = integrity_report(&conn).map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_db(e.to_string()),
        _ => OpsError::Corrupt {
            path: file.to_path_buf(),
            report: e.to_string(),
        },
    })?;
    if report != "ok" {
        return Err(OpsError::Corrupt {
            path: file.to_path_buf(),
            report,
        });
    }
    let version = migrate::current_version(&conn).map_err(|e| not_db(e.to_string()))?;
    let has_users: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'users'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not_db(e.to_string()))?;
    if version < 1 || !has_users {
        return Err(not_db(format!(
            "schema version {version}, no rtbox tables (is this a backup made by `rtbox backup`?)"
        )));
    }
    let supported = migrate::latest_version();
    if version > supported {
        return Err(OpsError::NewerSchema {
            path: file.to_path_buf(),
            found: version,
            supported,
        });
    }
    Ok(BackupInfo {
        schema_version: version,
    })
}

/// `PRAGMA integrity_check` as one string: `ok`, or the first problems it lists.
pub fn integrity_report(conn: &Connection) -> rusqlite::Result<String> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(lines.join("; "))
}

/// Restores `file` as the database of `data_dir`.
pub fn restore(data_dir: &Path, file: &Path) -> OpsResult<Restored> {
    let info = check_backup(file)?;
    let _lock = DataDirLock::acquire(data_dir, "rtbox restore")?;
    let db = data_dir.join(DB_FILE);
    if same_file(file, &db) {
        return Err(OpsError::Invalid(format!(
            "{} is the database itself; restore a backup copy",
            file.display()
        )));
    }

    // 1. Copy the backup next to the database (same filesystem, so the final step is a
    //    rename) through SQLite, which also folds in a -wal the backup may have.
    let incoming = data_dir.join(format!(".{DB_FILE}.restoring"));
    remove_with_sidecars(&incoming);
    copy_database(file, &incoming).inspect_err(|_| remove_with_sidecars(&incoming))?;

    // 2. Move the current database (and its -wal) aside under one timestamped name.
    let previous = if db.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
        let mut aside = data_dir.join(format!("{DB_FILE}.pre-restore-{stamp}"));
        let mut n = 1;
        while aside.exists() || sidecar(&aside, "-wal").exists() {
            // Two restores within a second: never overwrite the earlier one's copy.
            aside = data_dir.join(format!("{DB_FILE}.pre-restore-{stamp}-{n}"));
            n += 1;
        }
        checkpoint_quietly(&db);
        std::fs::rename(&db, &aside).map_err(io_err(&db))?;
        let wal = sidecar(&db, "-wal");
        if wal.exists() {
            std::fs::rename(&wal, sidecar(&aside, "-wal")).map_err(io_err(&wal))?;
        }
        let _ = std::fs::remove_file(sidecar(&db, "-shm"));
        Some(aside)
    } else {
        None
    };

    // 3. Put the copy in place, owned like the data dir (a root shell restoring for the
    //    `rtbox` service user must not leave a file the service cannot write).
    std::fs::rename(&incoming, &db).map_err(|error| OpsError::Io {
        path: db.clone(),
        error: std::io::Error::new(
            error.kind(),
            format!(
                "{error}; the previous database is at {}",
                previous
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(none)".into())
            ),
        ),
    })?;
    sync_parent(&db);
    match_owner(&db, data_dir);
    Ok(Restored {
        db,
        previous,
        schema_version: info.schema_version,
    })
}

fn copy_database(src: &Path, dest: &Path) -> OpsResult<()> {
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(crate::store::StoreError::from)?;
    let mut target = Connection::open(dest).map_err(crate::store::StoreError::from)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)
            .map_err(crate::store::StoreError::from)?;
        // One step: every page under one read transaction.
        while backup.step(-1).map_err(crate::store::StoreError::from)?
            != rusqlite::backup::StepResult::Done
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let report = integrity_report(&target).map_err(crate::store::StoreError::from)?;
    drop(target);
    if report != "ok" {
        return Err(OpsError::Corrupt {
            path: dest.to_path_buf(),
            report,
        });
    }
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dest))
}

/// Folds the WAL into the main file so the aside copy is one self-contained file; a
/// database too damaged for that is moved as it is, WAL and all.
fn checkpoint_quietly(db: &Path) {
    if let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

fn remove_with_sidecars(db: &Path) {
    let _ = std::fs::remove_file(db);
    let _ = std::fs::remove_file(sidecar(db, "-wal"));
    let _ = std::fs::remove_file(sidecar(db, "-shm"));
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
