//! The fan-out stage: committed messages leave the writer thread here. The writer (and
//! the in-memory id counter for non-persisted channels) hands each committed message to
//! [`FanOutStage::submit`] — a push onto a bounded queue — and goes back to committing.
//! The stage's own thread groups what is queued into a [`CommittedBatch`] and passes it
//! to a [`FanOut`] sink, in commit order.
//!
//! The sink is the seam for scale-out: on a single node it is the [`Hub`] (local
//! subscribers, long-poll waiters); a cluster broker implements [`FanOut`] by publishing
//! the batch to Redis, and every node's broker subscriber hands what it receives to its
//! local hub through the same trait. Nothing before this point knows which one runs.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::hub::Hub;
use crate::channels::message::Message;

/// Messages queued between commit and fan-out at most. When the stage falls this far
/// behind, `submit` waits: the writer slows down instead of memory growing.
const QUEUE: usize = 16_384;
/// Messages handed to the sink per batch at most.
const MAX_BATCH: usize = 1024;

/// Messages that are committed (durable, ids assigned), in commit order. Ids increase
/// strictly within each channel across batches too.
#[derive(Debug, Default, Clone)]
pub struct CommittedBatch {
    pub messages: Vec<Arc<Message>>,
}

/// Where committed messages go. `deliver` is called from one thread (the stage's), one
/// batch at a time, in commit order; it must not block on the network or a socket for
/// long (a broker that can stall buffers or drops on its own side), since every later
/// batch waits for it.
pub trait FanOut: Send + Sync + 'static {
    fn deliver(&self, batch: CommittedBatch);
}

/// Local delivery: serialized once per format, pushed to every subscriber's bounded
/// outbox, waiting long-polls answered.
impl FanOut for Hub {
    fn deliver(&self, batch: CommittedBatch) {
        for message in &batch.messages {
            self.deliver_message(message);
        }
    }
}

/// The queue and thread between commit and a [`FanOut`] sink.
pub struct FanOutStage {
    tx: SyncSender<Arc<Message>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FanOutStage {
    /// Starts the stage's thread; it runs until the stage is dropped.
    pub fn start(sink: Arc<dyn FanOut>) -> std::io::Result<FanOutStage> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("rtbox-fanout".into())
            .spawn(move || run(rx, sink))?;
        Ok(FanOutStage {
            tx,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a committed message for fan-out. Callers submit in commit order (the
    /// writer thread, or under the lock that assigned an in-memory id). Never waits
    /// unless the stage is `QUEUE` messages behind.
    pub fn submit(&self, message: Arc<Message>) {
        match self.tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) => {
                metrics::counter!("rtbox_fanout_backpressure_total").increment(1);
                let _ = self.tx.send(message);
            }
            // The stage thread is gone (it only ends when this sender is dropped, or if
            // the sink panicked): nothing can be delivered live any more; history and
            // `last_id` resumption still have every message.
            Err(TrySendError::Disconnected(_)) => {
                metrics::counter!("rtbox_fanout_dropped_total").increment(1);
            }
        }
    }
}

impl Drop for FanOutStage {
    fn drop(&mut self) {
        // The sender is dropped right after this, which ends the thread once it has
        // delivered what is queued; it is not joined here (the last owner may be on an
        // executor thread).
        self.thread.lock().take();
    }
}

fn run(rx: Receiver<Arc<Message>>, sink: Arc<dyn FanOut>) {
    crate::threads::batch_scheduling("rtbox-fanout");
    while let Ok(first) = rx.recv() {
        let mut messages = Vec::with_capacity(8);
        messages.push(first);
        while messages.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => messages.push(more),
                Err(_) => break,
            }
        }
        metrics::histogram!("rtbox_fanout_batch_messages").record(messages.len() as f64);
        sink.deliver(CommittedBatch { messages });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::message::{Author, Kind};
    use serde_json::value::RawValue;

    struct Recorder(Mutex<Vec<i64>>);

    impl FanOut for Recorder {
        fn deliver(&self, batch: CommittedBatch) {
            let mut seen = self.0.lock();
            seen.extend(batch.messages.iter().map(|m| m.id));
        }
    }

    fn message(id: i64) -> Arc<Message> {
        Arc::new(Message {
            id,
            channel: "c".into(),
            room: None,
            author: Author::Admin(1),
            created_at: String::new(),
            payload: RawValue::from_string("null".into()).unwrap(),
            kind: Kind::Message,
            client: None,
        })
    }

    #[test]
    fn delivers_every_message_in_submit_order_off_the_submitting_thread() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let stage = FanOutStage::start(recorder.clone()).unwrap();
        for id in 1..=50_000 {
            stage.submit(message(id));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorder.0.lock().len() < 50_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let seen = recorder.0.lock().clone();
        assert_eq!(seen, (1..=50_000).collect::<Vec<_>>());
    }
}
