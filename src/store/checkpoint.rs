//! WAL checkpoints on their own thread. SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, so one publish in a thousand waited for the copy
//! and its fsyncs; here a separate connection copies the WAL back (PASSIVE: never blocks
//! the writer or readers) and the writer's commits stay short.
//!
//! The WAL only starts over from its beginning once a checkpoint has copied all of it,
//! and a background pass never does that while the writer keeps appending: under
//! sustained publishing the WAL grew by 90 MB/s (2 GB in 22 s). SQLite's own checkpoint
//! is therefore kept on the writer as a backstop (`wal_autocheckpoint` at
//! [`WRITER_BACKSTOP_FRAMES`], the file cut back to [`WAL_SIZE_LIMIT_BYTES`]), but the
//! restart it does inside a commit stalled the writer ~20 ms at 1,000 msg/s, most of it
//! syncing the WAL. So once the WAL holds [`RESTART_FRAMES`] and the writer appends
//! slowly enough that a pass catches up, the background thread flushes the WAL file and
//! asks the writer to finish between two batches ([`CheckpointRequest`]): its pass
//! copies what came since and syncs an almost clean file (1–5 ms), and its next
//! transaction starts the WAL over. On a saturated disk that pass would cost what the
//! backstop costs, only more often, and the backstop is left to it.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::Connection;

use super::{open_connection, sidecar, StoreResult};
use crate::config::SyncMode;
use crate::store::StoreError;

const INTERVAL: Duration = Duration::from_millis(500);

/// WAL frames (4 KiB pages) at which the writer is asked to finish a checkpoint, so the
/// WAL starts over: 16 MiB.
const RESTART_FRAMES: i64 = 4_096;
/// The most frames the writer may have appended during a background pass for its own
/// pass to be asked for: 2 MiB.
const HANDOVER_FRAMES: i64 = 512;

/// WAL frames (4 KiB pages) at which the writer checkpoints itself: 64 MiB.
pub(super) const WRITER_BACKSTOP_FRAMES: i64 = 16_384;
/// What a WAL that grew past the backstop is truncated to when it restarts.
pub(super) const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Set by the background thread when the WAL should start over; the writer takes it
/// between batches and runs the checkpoint's last, short pass on its own connection.
#[derive(Clone, Default)]
pub(super) struct CheckpointRequest(Arc<AtomicBool>);

impl CheckpointRequest {
    fn ask(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Asked, and the writer has not run its pass yet (it runs after its next batch).
    fn pending(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// On the writer thread, outside a transaction: copies back what the background
    /// pass left, so that the writer's next transaction restarts the WAL.
    pub(super) fn serve(&self, conn: &Connection) {
        if self.0.swap(false, Ordering::Relaxed) {
            passive(conn);
        }
    }
}

pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(super) fn start(
        path: &Path,
        sync: SyncMode,
        request: CheckpointRequest,
    ) -> StoreResult<Checkpointer> {
        let conn = open_connection(path, sync)?;
        let wal = sidecar(path, "-wal");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rtbox-checkpoint".into())
            .spawn(move || {
                // Copying the WAL back yields to request handling, the writer and
                // fan-out, so a checkpoint does not sit in front of a publish on a busy
                // core (it ran ahead of ~1 % of deliveries on one core).
                crate::threads::lower_priority("rtbox-checkpoint");
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(INTERVAL);
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    background_pass(&conn, &wal, &request);
                }
            })
            .map_err(|e| StoreError::Other(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.thread.lock().take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

/// Copies back what the WAL holds now (PASSIVE: it never waits for the writer or readers).
/// If the WAL is long, a second pass copies what the writer appended during the first
/// and measures it. When that is little, the writer's own pass will be short: the WAL
/// file is flushed from here, so that pass syncs a clean file, and the writer is asked
/// for it. When the writer appends faster than a pass copies (a saturated disk), its
/// pass would take as long as SQLite's backstop, only more often, so the backstop is
/// left to restart the WAL.
fn background_pass(conn: &Connection, wal: &Path, request: &CheckpointRequest) {
    let Some(frames) = passive(conn) else { return };
    // Still pending: the writer has not finished a batch since it was asked, so there is
    // nothing new to hand over (and an idle server does not sync the WAL twice a second).
    if frames < RESTART_FRAMES || request.pending() {
        return;
    }
    let Some(now) = passive(conn) else { return };
    if now < frames || now - frames > HANDOVER_FRAMES {
        return; // restarted meanwhile, or the writer's share would not be short
    }
    if let Err(e) = File::open(wal).and_then(|f| f.sync_data()) {
        tracing::warn!(error = %e, "cannot sync the WAL");
    }
    request.ask();
}

/// One PASSIVE checkpoint: the frames the WAL held when it began.
pub(super) fn passive(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
        .map_err(|e| tracing::warn!(error = %e, "WAL checkpoint failed"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::writer::Writer;

    /// The WAL file header's checkpoint sequence (bytes 12..16, big-endian; see SQLite's
    /// file format): SQLite adds one each time the WAL starts over.
    fn restarts(wal: &Path) -> u32 {
        let header = std::fs::read(wal).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    fn write(writer: &Writer, rows: usize) {
        let rx = writer
            .submit_blocking(
                move |c| {
                    let mut insert = c.prepare_cached("INSERT INTO t VALUES (zeroblob(3000))")?;
                    for _ in 0..rows {
                        insert.execute([])?;
                    }
                    Ok(())
                },
                |_| {},
            )
            .unwrap();
        rx.blocking_recv().unwrap().unwrap();
    }

    /// A background pass that could not copy the whole WAL (the writer kept appending)
    /// hands the rest to the writer, and the WAL then starts over: without that it only
    /// ever grows until SQLite's backstop stalls a commit to restart it.
    #[test]
    fn a_long_wal_starts_over_after_the_writer_finishes_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let wal = sidecar(&path, "-wal");
        let conn = open_connection(&path, SyncMode::Normal).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x BLOB);")
            .unwrap();
        let request = CheckpointRequest::default();
        let writer = Writer::start(conn, request.clone()).unwrap();
        let background = open_connection(&path, SyncMode::Normal).unwrap();

        write(&writer, RESTART_FRAMES as usize);
        let before = restarts(&wal);
        // A reader's snapshot stands for the writer appending during the pass: the pass
        // copies only up to the frames the reader may still need.
        let reader = open_connection(&path, SyncMode::Normal).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        write(&writer, 10);
        background_pass(&background, &wal, &request);
        assert!(request.pending(), "the writer is asked");
        reader.execute_batch("COMMIT").unwrap();

        write(&writer, 1); // the writer finishes the checkpoint after this batch
        write(&writer, 1); // and this one starts the WAL over
        assert_eq!(restarts(&wal), before + 1);
        assert!(!request.pending());
        writer.stop();
    }
}
