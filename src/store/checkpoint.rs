//! WAL checkpoints on their own thread. SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, so one publish in a thousand waited for the copy
//! and its fsyncs; here a separate connection copies the WAL back (PASSIVE: never blocks
//! the writer or readers) and the writer's commits stay short.

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
