//! Realtime delivery: the hub (topic → subscribers, presence, long-poll waiters),
//! per-connection bounded outboxes, the WebSocket protocol frames and the session loop.

pub mod dialect;
pub mod hub;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod wsio;

pub use dialect::SessionDialect;
pub use hub::{topic_key, Conn, Format, Hub};
pub use outbox::{Frame, Outbox, Outgoing};
