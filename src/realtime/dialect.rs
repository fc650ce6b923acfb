//! What a dialect (livechat) adds to WebSocket sessions without the session knowing the
//! dialect: resolving a visitor token to an actor, and frame actions of its own
//! (`visitor_event`).

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::protocol::ErrorCode;
use crate::channels::Actor;

pub type DialectFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub trait SessionDialect: Send + Sync {
    /// The actor behind a visitor token; `Err` is the message of the `unauthorized` error.
    fn visitor(&self, token: String) -> DialectFuture<Result<Actor, String>>;

    /// Handles a frame action the envelope protocol does not know, or `None` when the
    /// dialect does not know it either. `Ok` is the payload of the `ack`.
    fn frame(
        &self,
        actor: &Actor,
        action: &str,
        payload: Value,
    ) -> Option<DialectFuture<Result<Value, (ErrorCode, String)>>>;

    /// A socket of `actor` joined `channel` (after every check passed).
    fn joined(&self, _actor: &Actor, _channel: &str) {}

    /// A socket of `actor` left `channel`, or closed while joined.
    fn left(&self, _actor: &Actor, _channel: &str) {}
}
