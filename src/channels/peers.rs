//! The two places a channel service hands work to other nodes, when it runs in a cluster
//! (installed once at start by the composition root; a lone node has neither):
//!
//! - [`Peers`]: the other nodes' subscribers — presence lists, presence updates and
//!   private messages that cross nodes.
//! - [`Upstream`]: the node that owns the database (set on edges only) — publishes,
//!   history reads, join and leave triggers.
//!
//! Committed messages do not pass here: they reach other nodes through the fan-out seam
//! (`realtime::fanout`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;

use super::message::Message;
use super::{Actor, ChannelError, PublishRequest, Published, Target};
use crate::triggers::TriggerAction;

/// Subscribers on other nodes.
pub trait Peers: Send + Sync + 'static {
    /// A local connection joined a topic whose channel has presence or private messaging.
    fn joined(&self, topic: &str, socket_id: &str, client: &Arc<RawValue>);
    /// It left (or disconnected).
    fn left(&self, topic: &str, socket_id: &str);
    /// Every client subscribed to `topic` on every live node, in join order; `None` when
    /// the shared view cannot be read (the caller falls back to local subscribers).
    fn presence<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Option<Vec<Arc<RawValue>>>>;
    /// A control frame (presence update) for the topic's subscribers on other nodes.
    fn broadcast(&self, topic: &str, frame: &str);
    /// A private message for a subscriber that is not on this node; `false` when no live
    /// node has it.
    fn send_private<'a>(
        &'a self,
        topic: &'a str,
        socket_id: &'a str,
        frame: String,
    ) -> BoxFuture<'a, bool>;
}

/// The node that owns the database, seen from an edge.
pub trait Upstream: Send + Sync + 'static {
    fn publish(&self, req: PublishRequest) -> BoxFuture<'_, Result<Published, ChannelError>>;
    fn history<'a>(
        &'a self,
        target: &'a Target,
        cursor: Option<i64>,
        descending: bool,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<Arc<Message>>, ChannelError>>;
    fn message<'a>(
        &'a self,
        target: &'a Target,
        id: i64,
    ) -> BoxFuture<'a, Result<Message, ChannelError>>;
    /// Runs the join triggers there (permission is checked there again).
    fn join<'a>(
        &'a self,
        target: &'a Target,
        actor: &'a Actor,
        socket_id: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), ChannelError>>;
    fn leave<'a>(
        &'a self,
        target: &'a Target,
        actor: &'a Actor,
        socket_id: &'a str,
    ) -> BoxFuture<'a, ()>;
    /// Whether the owner has active triggers for this channel and action (from its last
    /// known definitions), so edges skip the round trip when there are none.
    fn has_triggers(&self, channel: &str, action: TriggerAction) -> bool;
}
