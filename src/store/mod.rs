//! SQLite storage: one writer thread that groups commits, a pool of readers, embedded
//! migrations, and one module per aggregate. Nothing here knows about HTTP.

pub mod channels;
mod checkpoint;
mod error;
pub mod keys;
pub mod livechat;
pub mod messages;
pub mod migrate;
mod sequence;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod triggers;
pub mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use crate::config::SyncMode;
pub use error::StoreError;
pub use writer::WriteStats;
use writer::Writer;

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database: cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    checkpointer: checkpoint::Checkpointer,
}

fn apply_pragmas(conn: &Connection, sync: SyncMode) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    Ok(())
}

/// Opens a read-write connection with rtbox's pragmas (WAL, foreign keys, busy timeout).
pub fn open_connection(path: &Path, sync: SyncMode) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Other(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    apply_pragmas(&conn, sync)?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database, applies pending migrations and starts
    /// the writer thread.
    pub fn open(path: &Path, sync: SyncMode) -> StoreResult<Db> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Other(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let mut conn = open_connection(path, sync)?;
        migrate::apply(&mut conn)?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(move |c| apply_pragmas(c, sync));
        let readers = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .build(manager)?;
        // Checkpoints run on their own thread, not inside a commit, but for a backstop
        // that bounds the WAL under sustained writes (see `checkpoint`).
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_BACKSTOP_FRAMES,
        )?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::WAL_SIZE_LIMIT_BYTES)?;
        let checkpoint_request = checkpoint::CheckpointRequest::default();
        let writer = Writer::start(conn, checkpoint_request.clone())?;
        let checkpointer = checkpoint::Checkpointer::start(path, sync, checkpoint_request)?;
        Ok(Db {
            inner: Arc::new(DbInner {
                path: path.to_path_buf(),
                readers,
                writer,
                checkpointer,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a pooled read-only connection on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Other(format!("reader task failed: {e}")))?
    }

    /// Runs `f` on a pooled read-only connection on the current thread. Only for code
    /// already off the async executor (trigger scripts, CLI).
    pub fn read_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let conn = self.inner.readers.get()?;
        f(&conn)
    }

    /// Runs `f` inside the writer's current transaction; resolves after the commit that
    /// includes it, so the result is durable when this returns `Ok`.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.write_then(f, |_| {}).await
    }

    /// Like [`Db::write`], and runs `after_commit` on the writer thread right after the
    /// commit, in commit order. Keep it to a queue push (publish hands the message to the
    /// fan-out stage): every later commit waits for it.
    pub async fn write_then<T, F, A>(&self, f: F, after_commit: A) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        self.write_job(false, f, after_commit).await
    }

    /// [`Db::write_then`] for work that makes at most one change statement (reads are
    /// fine): SQLite undoes a failed statement by itself, so it runs without a savepoint.
    pub async fn write_statement_then<T, F, A>(&self, f: F, after_commit: A) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        self.write_job(true, f, after_commit).await
    }

    async fn write_job<T, F, A>(
        &self,
        single_statement: bool,
        f: F,
        after_commit: A,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let rx = self
            .inner
            .writer
            .submit(single_statement, f, after_commit)
            .await?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// [`Db::write`] for code off the async executor.
    pub fn write_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let rx = self.inner.writer.submit_blocking(f, |_| {})?;
        rx.blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    pub fn write_stats(&self) -> WriteStats {
        self.inner.writer.stats()
    }

    /// Commits what is queued and stops the writer; later writes fail with `WriterGone`.
    pub fn close(&self) {
        self.inner.writer.stop();
        self.inner.checkpointer.stop();
    }
}

/// Consistent online copy of the database at `src` into `dest` (SQLite backup API),
/// safe while a server is writing. Returns the result of `PRAGMA integrity_check` on the copy.
pub fn backup(src: &Path, dest: &Path) -> StoreResult<String> {
    if !src.exists() {
        return Err(StoreError::Other(format!(
            "no database at {} (is the data dir right?)",
            src.display()
        )));
    }
    if dest.exists() {
        return Err(StoreError::Other(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut target = Connection::open(dest)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        // One step copies every page under a single read transaction: a consistent
        // snapshot even while the server keeps committing (WAL readers never block).
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => continue,
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    let check: String = target.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    Ok(check)
}

/// Current time as the RFC 3339 string (microseconds, `Z`) used in every API object.
/// A file SQLite keeps beside the database, e.g. `rtbox.db-wal` for suffix `-wal`.
pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
