//! The single writer: a dedicated thread owns the read-write connection, takes queued
//! jobs, runs as many as are waiting inside one transaction (each in its own savepoint,
//! so one failing job never spoils its neighbours), commits once, then answers them all.
//! Grouping is what keeps durable writes fast under concurrency. A job that makes a
//! single change statement skips the savepoint: SQLite already undoes a failed statement
//! alone. Channel ids come from the writer's in-memory sequences (`sequence`), written
//! back once per batch before the commit. A batch that cannot
//! begin its transaction (the database locked past the busy timeout) fails without
//! running any of its jobs: outside a transaction every savepoint would commit on its
//! own while its caller is told the write failed, and a retry would write it twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::CheckpointRequest;
use super::{sequence, StoreResult};
use crate::store::StoreError;

/// Jobs run per transaction at most, so one commit never grows without bound.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 16_384;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A queued write: run inside the batch's transaction, or failed without running.
trait Job: Send {
    /// Runs the work in its own savepoint; the completion answers after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Completion;
    /// Answers `err` without touching the database.
    fn abandon(self: Box<Self>, err: StoreError);
}

struct Queued<T, F, A> {
    /// The work is one change statement (atomic by itself): no savepoint around it.
    single_statement: bool,
    work: F,
    after_commit: A,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F, A> Job for Queued<T, F, A>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completion {
        let Queued {
            single_statement,
            work,
            after_commit,
            reply,
        } = *self;
        let result = if single_statement {
            work(conn)
        } else {
            run_in_savepoint(conn, work)
        };
        Box::new(move |commit: Result<(), String>| {
            let outcome = match (commit, result) {
                (Ok(()), Ok(value)) => {
                    after_commit(&value);
                    Ok(value)
                }
                (Err(e), Ok(_)) => Err(StoreError::Other(format!("commit failed: {e}"))),
                (_, Err(e)) => Err(e),
            };
            let _ = reply.send(outcome);
        })
    }

    fn abandon(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
}

pub(super) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    commits: Arc<AtomicU64>,
    jobs: Arc<AtomicU64>,
}

type Reply<T> = oneshot::Receiver<StoreResult<T>>;

fn make_job<T, F, A>(single_statement: bool, work: F, after_commit: A) -> (Box<dyn Job>, Reply<T>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let job = Queued {
        single_statement,
        work,
        after_commit,
        reply,
    };
    (Box::new(job), rx)
}

fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run_cached(conn, "SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            run_cached(conn, "RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            run_cached(conn, "ROLLBACK TO job")?;
            run_cached(conn, "RELEASE job")?;
            Err(e)
        }
    }
}

/// Transaction-control statements run per job: prepared once, not parsed every time.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl Writer {
    pub(super) fn start(conn: Connection, checkpoint: CheckpointRequest) -> StoreResult<Writer> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let jobs = Arc::new(AtomicU64::new(0));
        let (c, j) = (commits.clone(), jobs.clone());
        let thread = std::thread::Builder::new()
            .name("rtbox-writer".into())
            .spawn(move || writer_loop(conn, rx, checkpoint, c, j))
            .map_err(|e| StoreError::Other(format!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            commits,
            jobs,
        })
    }

    fn sender(&self) -> StoreResult<mpsc::Sender<Box<dyn Job>>> {
        self.tx.lock().clone().ok_or(StoreError::WriterGone)
    }

    /// Queues `f`; `single_statement` says it makes at most one change statement.
    pub(super) async fn submit<T, F, A>(
        &self,
        single_statement: bool,
        f: F,
        after_commit: A,
    ) -> StoreResult<Reply<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (job, rx) = make_job(single_statement, f, after_commit);
        self.sender()?
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        Ok(rx)
    }

    pub(super) fn submit_blocking<T, F, A>(&self, f: F, after_commit: A) -> StoreResult<Reply<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (job, rx) = make_job(false, f, after_commit);
        self.sender()?
            .blocking_send(job)
            .map_err(|_| StoreError::WriterGone)?;
        Ok(rx)
    }

    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.commits.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
        }
    }

    /// Drops the queue's sender; the thread drains what is queued, commits and exits.
    pub(super) fn stop(&self) {
        self.tx.lock().take();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    checkpoint: CheckpointRequest,
    commits: Arc<AtomicU64>,
    jobs: Arc<AtomicU64>,
) {
    crate::threads::batch_scheduling("rtbox-writer");
    sequence::install();
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        let started = Instant::now();
        if let Err(e) = begin(&conn) {
            tracing::error!(error = %e, "writer could not begin a transaction; the write fails unrun");
            metrics::counter!("rtbox_sqlite_begin_failures_total").increment(1);
            first.abandon(StoreError::Sqlite(e));
            continue;
        }
        completions.push(first.run(&conn));
        // SQLite rolls the whole transaction back on some errors (disk full, I/O): the
        // jobs after that would each commit on their own, so the batch ends there.
        while completions.len() < MAX_BATCH && !conn.is_autocommit() {
            match rx.try_recv() {
                Ok(job) => completions.push(job.run(&conn)),
                Err(_) => break,
            }
        }
        let commit = commit(&conn).map_err(|e| {
            tracing::error!(error = %e, "commit failed; rolling back the batch");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            sequence::forget();
            e
        });
        let elapsed = started.elapsed();
        metrics::histogram!("rtbox_sqlite_write_seconds").record(elapsed.as_secs_f64());
        metrics::counter!("rtbox_sqlite_commits_total").increment(1);
        commits.fetch_add(1, Ordering::Relaxed);
        jobs.fetch_add(completions.len() as u64, Ordering::Relaxed);
        for done in completions.drain(..) {
            done(commit.clone());
        }
        // After the answers: the batch just committed does not wait for it.
        checkpoint.serve(&conn);
    }
    // Queue closed: everything sent before has been committed above.
    super::checkpoint::passive(&conn);
}

/// Writes the sequences back, then commits; fails if the transaction is gone.
fn commit(conn: &Connection) -> Result<(), String> {
    if conn.is_autocommit() {
        return Err("the transaction was rolled back by SQLite".into());
    }
    sequence::flush(conn).map_err(|e| e.to_string())?;
    run_cached(conn, "COMMIT").map_err(|e| e.to_string())
}

/// Opens the batch's transaction. A transaction left open by a failed rollback is
/// rolled back first, so one bad commit cannot make every later batch fail to begin.
fn begin(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    run_cached(conn, "BEGIN IMMEDIATE")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with one table `t`, and a connection to read it back.
    fn scratch_db() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        (dir, path, setup)
    }

    fn values(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT x FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn insert(x: i64) -> impl FnOnce(&Connection) -> StoreResult<usize> {
        move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [x])?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_cannot_begin_fails_without_running() {
        let (_dir, path, setup) = scratch_db();
        let writer_conn = Connection::open(&path).unwrap();
        writer_conn
            .busy_timeout(std::time::Duration::from_millis(50))
            .unwrap();
        let writer = Writer::start(writer_conn, CheckpointRequest::default()).unwrap();

        // Another process holds the write lock a little past the writer's busy timeout:
        // BEGIN gives up, and the lock is free again right after. A job run anyway
        // would get the lock then and commit on its own.
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(80));
            holder.execute_batch("COMMIT").unwrap();
        });
        let rx = writer
            .submit(false, insert(1), |_| {
                panic!("no after-commit hook for a failed write")
            })
            .await
            .unwrap();
        assert!(rx.await.unwrap().is_err(), "the caller is told it failed");
        release.join().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            values(&setup).is_empty(),
            "a failed write must not have run"
        );

        // Once the lock is gone the writer works again.
        let rx = writer.submit(true, insert(2), |_| {}).await.unwrap();
        rx.await.unwrap().unwrap();
        assert_eq!(values(&setup), [2]);
        writer.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_whose_transaction_sqlite_rolled_back_runs_nothing_after_it() {
        let (_dir, path, setup) = scratch_db();
        let writer = Writer::start(
            Connection::open(&path).unwrap(),
            CheckpointRequest::default(),
        )
        .unwrap();

        // The first job holds the batch open until the next two are queued behind it, so
        // all three are taken into the same transaction.
        let (queued, wait_for_queue) = std::sync::mpsc::channel::<()>();
        let first = writer
            .submit(
                false,
                move |c| {
                    let done = insert(1)(c);
                    let _ = wait_for_queue.recv();
                    done
                },
                |_| panic!("the batch did not commit"),
            )
            .await
            .unwrap();
        // Stands for SQLite rolling the transaction back on its own (disk full, I/O).
        let lost = writer
            .submit(false, |c| Ok(c.execute_batch("ROLLBACK")?), |_| {})
            .await
            .unwrap();
        let after = writer.submit(true, insert(3), |_| {}).await.unwrap();
        queued.send(()).unwrap();
        assert!(first.await.unwrap().is_err(), "its transaction is gone");
        assert!(lost.await.unwrap().is_err());
        // Run in autocommit mode, it would have committed on its own inside the failed
        // batch while its caller was told it failed; it waits for the next batch instead.
        after.await.unwrap().unwrap();
        assert_eq!(values(&setup), [3]);
        writer.stop();
    }
}
