//! A connection's bounded outbound queue (count and bytes). Producers never wait: when
//! the queue is full the connection is marked for closing with 1013, so one slow
//! consumer never slows the publisher or the other subscribers.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

use bytestring::ByteString;
use tokio::sync::{mpsc, Notify};

pub const CLOSE_TRY_AGAIN: u16 = 1013;
pub const CLOSE_RESTART: u16 = 1012;
pub const CLOSE_POLICY: u16 = 1008;

/// A frame waiting to be written: shared by every subscriber it goes to (one
/// allocation per message, a pointer per queue slot).
#[derive(Debug)]
pub struct Frame {
    /// For channel messages, the topic: the session drops the frame if it already sent
    /// that id for the topic (replay and live overlap) or has left it. `None` for
    /// anything else (acks, presence, errors).
    pub topic: Option<Arc<str>>,
    pub id: i64,
    pub bytes: ByteString,
}

pub type Outgoing = Arc<Frame>;

impl Frame {
    pub fn live(topic: Arc<str>, id: i64, bytes: ByteString) -> Outgoing {
        Arc::new(Frame {
            topic: Some(topic),
            id,
            bytes,
        })
    }

    pub fn text(bytes: impl Into<ByteString>) -> Outgoing {
        Arc::new(Frame {
            topic: None,
            id: 0,
            bytes: bytes.into(),
        })
    }
}

pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    close_code: AtomicU16,
    close: Notify,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> (Outbox, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(max_messages.max(1));
        (
            Outbox {
                tx,
                queued_bytes: AtomicUsize::new(0),
                max_bytes,
                close_code: AtomicU16::new(0),
                close: Notify::new(),
            },
            rx,
        )
    }

    /// Queues a frame; `false` if the connection is closing or just overflowed.
    pub fn push(&self, item: Outgoing) -> bool {
        if self.close_code.load(Ordering::Relaxed) != 0 {
            return false;
        }
        let len = item.bytes.len();
        if self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.overflow();
            return false;
        }
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.overflow();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }

    fn overflow(&self) {
        metrics::counter!("rtbox_slow_consumers_closed_total").increment(1);
        self.request_close(CLOSE_TRY_AGAIN);
    }

    /// The session writes a frame out: release its bytes.
    pub fn sent(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
    }

    /// Asks the session to close with `code` (the first request wins).
    pub fn request_close(&self, code: u16) {
        if self
            .close_code
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.close.notify_one();
        }
    }

    /// Resolves with the close code once a close was requested.
    pub async fn closing(&self) -> u16 {
        loop {
            let code = self.close_code.load(Ordering::Relaxed);
            if code != 0 {
                return code;
            }
            self.close.notified().await;
        }
    }
}
