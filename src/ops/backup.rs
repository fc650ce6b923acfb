//! Backups: a consistent copy of the live database (SQLite backup API, see
//! [`crate::store::backup`]) written under a temporary name and renamed into place, so a
//! crash never leaves a half file that looks like a backup; timestamped copies in a
//! directory with `--keep N` rotation; and the schedule `serve --backup-dir` runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::{io_err, OpsError, OpsResult};
use crate::config::BackupSchedule;
use crate::store;

const PREFIX: &str = "rtbox-";
const SUFFIX: &str = ".db";
const PARTIAL: &str = ".partial";

/// What one backup did.
#[derive(Debug)]
pub struct BackupOutcome {
    pub file: PathBuf,
    /// Older backups deleted by rotation.
    pub removed: Vec<PathBuf>,
}

/// Copies the database at `db` to the new file `dest` (refused if it exists), checking
/// the copy with `PRAGMA integrity_check` before it gets its final name.
pub fn backup_to_file(db: &Path, dest: &Path) -> OpsResult<PathBuf> {
    if dest.exists() {
        return Err(OpsError::Invalid(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    let name = dest
        .file_name()
        .ok_or_else(|| OpsError::Invalid(format!("{} is not a file name", dest.display())))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(PARTIAL);
    let partial = dest.with_file_name(partial_name);
    let _ = std::fs::remove_file(&partial);
    let check = match store::backup(db, &partial) {
        Ok(check) => check,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    if check != "ok" {
        let _ = std::fs::remove_file(&partial);
        return Err(OpsError::Corrupt {
            path: db.to_path_buf(),
            report: check,
        });
    }
    sync_file(&partial)?;
    std::fs::rename(&partial, dest).map_err(io_err(dest))?;
    sync_parent(dest);
    Ok(dest.to_path_buf())
}

/// Writes a timestamped backup into `dir` (created if missing) and, with `keep`, deletes
/// all but the `keep` newest backups there. Only files named like rtbox's own backups
/// (`rtbox-YYYYMMDD-HHMMSS-mmm.db`) are ever deleted.
pub fn backup_into_dir(db: &Path, dir: &Path, keep: Option<usize>) -> OpsResult<BackupOutcome> {
    if keep == Some(0) {
        return Err(OpsError::Invalid(
            "--keep must be at least 1 (the backup just made)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut dest = dir.join(backup_name(chrono::Utc::now()));
    while dest.exists() {
        // Two backups in the same millisecond: wait for the next one.
        std::thread::sleep(Duration::from_millis(1));
        dest = dir.join(backup_name(chrono::Utc::now()));
    }
    let file = backup_to_file(db, &dest)?;
    let removed = match keep {
        Some(keep) => rotate(dir, keep)?,
        None => Vec::new(),
    };
    Ok(BackupOutcome { file, removed })
}

fn backup_name(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", now.format("%Y%m%d-%H%M%S-%3f"))
}

/// Whether `name` is one of rtbox's timestamped backups.
pub fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(PREFIX)
        .and_then(|n| n.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 19
        && b[8] == b'-'
        && b[15] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

/// rtbox's backups in `dir`, oldest first (the names sort by time).
pub fn list_backups(dir: &Path) -> OpsResult<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter(|e| e.file_name().to_str().is_some_and(is_backup_name))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Deletes all but the `keep` newest backups in `dir`, and stale partial files older than
/// a day (left by a crash mid-backup); returns the deleted backups.
pub fn rotate(dir: &Path, keep: usize) -> OpsResult<Vec<PathBuf>> {
    let backups = list_backups(dir)?;
    let excess = backups.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in backups.into_iter().take(excess) {
        std::fs::remove_file(&old).map_err(io_err(&old))?;
        removed.push(old);
    }
    let day_ago = SystemTime::now() - Duration::from_secs(86_400);
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = name.starts_with(".rtbox-")
            && name.ends_with(PARTIAL)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < day_ago);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(removed)
}

/// When the next scheduled backup is due: one interval after the newest backup in the
/// dir, or now when there is none (so restarts never postpone backups forever).
fn next_due(dir: &Path, interval: Duration) -> SystemTime {
    let newest = list_backups(dir)
        .ok()
        .and_then(|b| b.last().cloned())
        .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    match newest {
        Some(t) => t + interval,
        None => SystemTime::now(),
    }
}

/// The scheduled backups of a running server, on a thread of their own (backups are
/// blocking SQLite work). Dropping it stops the schedule and gives a backup in progress
/// up to [`STOP_GRACE`] to finish; past that it is abandoned with the process and its
/// partial file is cleaned up by a later rotation.
pub struct BackupScheduler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackupScheduler {
    pub fn start(db: PathBuf, schedule: BackupSchedule) -> OpsResult<BackupScheduler> {
        std::fs::create_dir_all(&schedule.dir).map_err(io_err(&schedule.dir))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rtbox-backup".into())
            .spawn(move || scheduled_loop(&db, &schedule, &flag))
            .map_err(|e| OpsError::Invalid(format!("cannot start the backup thread: {e}")))?;
        Ok(BackupScheduler {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the schedule, waiting up to `grace` for a backup in progress.
    pub fn stop(&mut self, grace: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(t) = self.thread.take() else { return };
        t.thread().unpark();
        let deadline = std::time::Instant::now() + grace;
        while !t.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!("a scheduled backup is still running at shutdown; abandoning it");
        }
    }
}

/// How long shutdown waits for a scheduled backup in progress.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

impl Drop for BackupScheduler {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

fn scheduled_loop(db: &Path, schedule: &BackupSchedule, stop: &AtomicBool) {
    tracing::info!(dir = %schedule.dir.display(), every_seconds = schedule.interval.as_secs(), keep = schedule.keep, "scheduled backups on");
    let mut due = next_due(&schedule.dir, schedule.interval);
    while !stop.load(Ordering::Relaxed) {
        let now = SystemTime::now();
        if let Ok(wait) = due.duration_since(now) {
            // Wake at least every minute so a changed clock cannot stall the schedule long.
            std::thread::park_timeout(wait.min(Duration::from_secs(60)));
            continue;
        }
        match backup_into_dir(db, &schedule.dir, Some(schedule.keep)) {
            Ok(outcome) => {
                metrics::counter!("rtbox_backups_total", "result" => "ok").increment(1);
                metrics::gauge!("rtbox_backup_last_success_timestamp_seconds")
                    .set(store::now_unix() as f64);
                tracing::info!(file = %outcome.file.display(), removed = outcome.removed.len(), "scheduled backup written");
                due = SystemTime::now() + schedule.interval;
            }
            Err(e) => {
                metrics::counter!("rtbox_backups_total", "result" => "error").increment(1);
                tracing::error!(error = %e, dir = %schedule.dir.display(), "scheduled backup failed; retrying in 5 minutes");
                due = SystemTime::now() + schedule.interval.min(Duration::from_secs(300));
            }
        }
    }
}

fn sync_file(path: &Path) -> OpsResult<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

/// Makes a rename durable (best effort: not every filesystem can sync a directory).
pub(crate) fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_names_count_as_backups() {
        let name = backup_name(chrono::Utc::now());
        assert!(is_backup_name(&name), "{name}");
        for other in [
            "rtbox.db",
            "rtbox-20261201-213000-12.db",
            "rtbox-20261201-213000-123.db.partial",
            "my-rtbox-20261201-213000-123.db",
            "rtbox-2026120x-213000-123.db",
            "rtbox-20261201_213000-123.db",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest_and_never_touches_other_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let names = [
            "rtbox-20260101-000000-000.db",
            "rtbox-20260102-000000-000.db",
            "rtbox-20260103-000000-000.db",
            "notes.txt",
            "rtbox.db",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), n).unwrap();
        }
        let removed = rotate(dir.path(), 2).unwrap();
        assert_eq!(removed, vec![dir.path().join(names[0])]);
        for n in &names[1..] {
            assert!(dir.path().join(n).exists(), "{n}");
        }
        assert!(rotate(dir.path(), 2).unwrap().is_empty());
    }
}
