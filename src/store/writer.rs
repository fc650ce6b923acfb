//! The single writer: a dedicated thread owns the read-write connection, takes queued
//! jobs, runs as many as are waiting inside one transaction (each in its own savepoint,
//! so one failing job never spoils its neighbours), commits once, then answers them all.
//! Grouping is what keeps durable writes fast under concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreResult;
use crate::error::StoreError;

/// Jobs run per transaction at most, so one commit never grows without bound.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 16_384;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
}

pub(super) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    commits: Arc<AtomicU64>,
    jobs: Arc<AtomicU64>,
}

type Reply<T> = oneshot::Receiver<StoreResult<T>>;

fn make_job<T, F, A>(f: F, after_commit: A) -> (Job, Reply<T>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    let (reply_tx, reply_rx) = oneshot::channel();
    let job: Job = Box::new(move |conn: &Connection| {
        let result = run_in_savepoint(conn, f);
        Box::new(move |commit: Result<(), String>| {
            let outcome = match (commit, result) {
                (Ok(()), Ok(value)) => {
                    after_commit(&value);
                    Ok(value)
                }
                (Err(e), Ok(_)) => Err(StoreError::Other(format!("commit failed: {e}"))),
                (_, Err(e)) => Err(e),
            };
            let _ = reply_tx.send(outcome);
        })
    });
    (job, reply_rx)
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
    pub(super) fn start(conn: Connection) -> StoreResult<Writer> {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let jobs = Arc::new(AtomicU64::new(0));
        let (c, j) = (commits.clone(), jobs.clone());
        let thread = std::thread::Builder::new()
            .name("rtbox-writer".into())
            .spawn(move || writer_loop(conn, rx, c, j))
            .map_err(|e| StoreError::Other(format!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            commits,
            jobs,
        })
    }

    fn sender(&self) -> StoreResult<mpsc::Sender<Job>> {
        self.tx.lock().clone().ok_or(StoreError::WriterGone)
    }

    pub(super) async fn submit<T, F, A>(&self, f: F, after_commit: A) -> StoreResult<Reply<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (job, rx) = make_job(f, after_commit);
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
        let (job, rx) = make_job(f, after_commit);
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
    mut rx: mpsc::Receiver<Job>,
    commits: Arc<AtomicU64>,
    jobs: Arc<AtomicU64>,
) {
    batch_scheduling();
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        let started = Instant::now();
        if let Err(e) = run_cached(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "writer could not begin a transaction");
            first(&conn)(Err(e.to_string()));
            continue;
        }
        completions.push(first(&conn));
        while completions.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => completions.push(job(&conn)),
                Err(_) => break,
            }
        }
        let commit = run_cached(&conn, "COMMIT").map_err(|e| {
            tracing::error!(error = %e, "commit failed; rolling back the batch");
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        let elapsed = started.elapsed();
        metrics::histogram!("rtbox_sqlite_write_seconds").record(elapsed.as_secs_f64());
        metrics::counter!("rtbox_sqlite_commits_total").increment(1);
        commits.fetch_add(1, Ordering::Relaxed);
        jobs.fetch_add(completions.len() as u64, Ordering::Relaxed);
        for done in completions.drain(..) {
            done(commit.clone());
        }
    }
    // Queue closed: everything sent before has been committed above.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

/// Marks the writer thread SCHED_BATCH: a job arriving does not preempt the thread that
/// submitted it, so the submitters that are ready run first and the writer then commits
/// them as one group (several times larger groups under load, most of all on one core).
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread with a valid, initialized param.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            tracing::debug!("SCHED_BATCH unavailable for the writer thread");
        }
    }
}
