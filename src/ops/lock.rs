//! The data-dir lock: `serve` holds an exclusive advisory lock (flock) on
//! `DATA_DIR/rtbox.lock` for as long as it runs, so `restore` (and a second `serve`) can
//! tell that the database is in use. The kernel drops the lock when the process dies, even
//! on `kill -9`, so a stale file never blocks anything; the file holds the holder's pid
//! only to make the refusal message useful.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{io_err, match_owner, OpsError, OpsResult};

pub const LOCK_FILE: &str = "rtbox.lock";

/// Held for the lifetime of the value; dropping it (or exiting) releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock (waiting at most half a second); `ServerRunning` when another
    /// process holds it.
    /// Creates the data dir if needed.
    pub fn acquire(data_dir: &Path, holder: &str) -> OpsResult<DataDirLock> {
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let path = data_dir.join(LOCK_FILE);
        let existed = path.exists();
        let (mut file, writable) = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => (f, true),
            // Someone else's lock file (e.g. left by root): flock works on a read-only
            // descriptor too; only the pid note is skipped.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (File::open(&path).map_err(io_err(&path))?, false)
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        if !existed {
            match_owner(&path, data_dir);
        }
        // A `doctor` probing the lock holds it shared for an instant: retry briefly
        // before calling the data dir busy.
        let mut locked = try_flock(&file).map_err(io_err(&path))?;
        for _ in 0..10 {
            if locked {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            locked = try_flock(&file).map_err(io_err(&path))?;
        }
        if !locked {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim() {
                "" => "another process".to_string(),
                t => t.to_string(),
            };
            return Err(OpsError::ServerRunning {
                dir: data_dir.to_path_buf(),
                holder,
            });
        }
        if writable {
            let line = format!("{holder} pid {}\n", std::process::id());
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(line.as_bytes()).map_err(io_err(&path))?;
        }
        Ok(DataDirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the lock of `data_dir` right now (`None` when nobody does or there is no
/// lock file). Probes by trying the lock, so it never blocks.
pub fn holder(data_dir: &Path) -> Option<String> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = File::open(&path).ok()?;
    match try_flock_shared(&file) {
        Ok(true) => None,
        Ok(false) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Some(text.trim().to_string())
        }
        Err(_) => None,
    }
}

/// The pid written by the current holder, if any.
pub fn holder_pid(data_dir: &Path) -> Option<u32> {
    holder(data_dir)?.rsplit(' ').next()?.parse().ok()
}

fn try_flock(file: &File) -> std::io::Result<bool> {
    flock(file, libc::LOCK_EX | libc::LOCK_NB)
}

fn try_flock_shared(file: &File) -> std::io::Result<bool> {
    flock(file, libc::LOCK_SH | libc::LOCK_NB)
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a file descriptor this `File` owns for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::TempDir::new().unwrap();
        assert_eq!(holder(dir.path()), None);
        let first = DataDirLock::acquire(dir.path(), "rtbox serve").unwrap();
        let err = DataDirLock::acquire(dir.path(), "rtbox restore").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("a server is running"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert_eq!(holder_pid(dir.path()), Some(std::process::id()));
        drop(first);
        assert_eq!(holder(dir.path()), None);
        DataDirLock::acquire(dir.path(), "rtbox restore").unwrap();
    }
}
