//! WAL checkpoints on their own thread. SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, so one publish in a thousand waited for the copy
//! and its fsyncs; here a separate connection copies the WAL back (PASSIVE: never blocks
//! the writer or readers) and the writer's commits stay short.
//!
//! A background checkpoint never catches up with a writer that keeps appending, and the
//! WAL only starts over from its beginning once a checkpoint has caught up: under
//! sustained publishing it grew by 90 MB/s (2 GB in 22 s). So the writer keeps SQLite's
//! own checkpoint as a backstop at [`WRITER_BACKSTOP_FRAMES`]: when the WAL gets that
//! long, the commit that crossed it copies back what the background pass has not, the
//! WAL restarts, and the file is cut back to [`WAL_SIZE_LIMIT_BYTES`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::{open_connection, StoreResult};
use crate::config::SyncMode;
use crate::store::StoreError;

const INTERVAL: Duration = Duration::from_millis(500);

/// WAL frames (4 KiB pages) at which the writer checkpoints itself: 64 MiB.
pub(super) const WRITER_BACKSTOP_FRAMES: i64 = 16_384;
/// What a WAL that grew past the backstop is truncated to when it restarts.
pub(super) const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path, sync: SyncMode) -> StoreResult<Checkpointer> {
        let conn = open_connection(path, sync)?;
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
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
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
