//! Realtime delivery: the fan-out stage after commit (and its `FanOut` seam), the hub
//! (topic → subscribers, presence, long-poll waiters),
//! per-connection bounded outboxes, the WebSocket protocol frames and the session loop.

pub mod dialect;
pub mod fanout;
pub mod hub;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod wsio;

pub use dialect::{AuthRefusal, SessionDialect};
pub use fanout::{CommittedBatch, FanOut, FanOutStage};
pub use hub::{topic_key, Conn, Format, Hub, IpSlot};
pub use outbox::{Frame, Outbox, Outgoing};
