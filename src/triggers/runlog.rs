//! The run log writer: runs are queued without waiting and written in batches by a
//! background thread, so recording a run never delays the message it belongs to. When
//! the queue is full, runs are dropped (and counted) rather than slowing the hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use crate::store::triggers::{insert_runs, NewRun};
use crate::store::Db;
use crate::store::StoreError;

const QUEUE: usize = 8192;
const BATCH: usize = 512;

pub struct RunLog {
    tx: SyncSender<NewRun>,
    dropped: AtomicU64,
}

impl RunLog {
    pub fn start(db: Db) -> RunLog {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("rtbox-trigger-runlog".into())
            .spawn(move || write_loop(db, rx));
        if let Err(e) = spawned {
            // Without the thread every send fails and is counted as dropped.
            tracing::error!(error = %e, "cannot start the trigger run log writer");
        }
        RunLog {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    pub fn record(&self, run: NewRun) {
        match self.tx.try_send(run) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("rtbox_trigger_runs_log_dropped_total").increment(1);
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_loop(db: Db, rx: Receiver<NewRun>) {
    // Ends when the service (the only sender) is dropped.
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(run) => batch.push(run),
                Err(_) => break,
            }
        }
        match db.write_blocking(move |c| insert_runs(c, &batch)) {
            Ok(()) => {}
            Err(StoreError::WriterGone) => return,
            Err(e) => tracing::warn!(error = %e, "could not write trigger runs"),
        }
    }
}
