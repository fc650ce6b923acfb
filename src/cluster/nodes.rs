//! The node registry: every node heartbeats into a Redis sorted set; a node silent for
//! [`NODE_TTL`] is dead. Readers (presence, private messages) see only live nodes, and
//! the primary sweeps a dead node's presence entries, telling the other nodes' clients
//! that they left.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::AsyncCommands;

use super::broker::{self, Broker};
use super::wire::{now_ms, Control, PresenceEntry};
use crate::channels::message::Author;
use crate::channels::{Actor, ChannelService};
use crate::realtime::protocol::{presence_update_frame, ReplyTo};

pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose last heartbeat is older than this is dead: its clients leave presence.
pub const NODE_TTL: Duration = Duration::from_secs(5);

pub struct NodeRegistry {
    pub me: String,
    info: String,
    sweeper: bool,
    live: RwLock<HashSet<String>>,
    /// Runs when this node finds itself missing from the registry (it was swept as dead
    /// after a stall, or Redis lost everything): its presence must be written again.
    on_readded: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Heartbeats that reached Redis (the first one always adds this node).
    beats: std::sync::atomic::AtomicU64,
}

impl NodeRegistry {
    pub fn new(me: &str, role: &str, url: &str, sweeper: bool) -> NodeRegistry {
        let info =
            serde_json::json!({"role": role, "url": url, "started_ms": now_ms()}).to_string();
        let mut live = HashSet::new();
        live.insert(me.to_string());
        NodeRegistry {
            me: me.to_string(),
            info,
            sweeper,
            live: RwLock::new(live),
            on_readded: std::sync::OnceLock::new(),
            beats: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn on_readded(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_readded.set(Box::new(f));
    }

    pub fn is_live(&self, node: &str) -> bool {
        node == self.me || self.live.read().contains(node)
    }

    /// Like [`NodeRegistry::is_live`], asking Redis when the node is not in the cached
    /// live set (it may have started since the last heartbeat).
    pub async fn check_live(&self, broker: &Broker, node: &str) -> bool {
        if self.is_live(node) {
            return true;
        }
        let mut conn = broker.conn();
        let score: Option<i64> = conn.zscore(broker::KEY_NODES, node).await.unwrap_or(None);
        let live = score.is_some_and(|t| t > now_ms() - NODE_TTL.as_millis() as i64);
        if live {
            self.live.write().insert(node.to_string());
        }
        live
    }

    pub fn live_count(&self) -> usize {
        self.live.read().len()
    }

    /// Heartbeats forever; refreshes the live set and (on the sweeper) clears dead nodes.
    pub async fn run(self: Arc<Self>, broker: Arc<Broker>, svc: Arc<ChannelService>) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.beat(&broker, &svc).await {
                tracing::debug!(error = %e, "heartbeat failed");
            }
        }
    }

    async fn beat(&self, broker: &Broker, svc: &ChannelService) -> redis::RedisResult<()> {
        let mut conn = broker.conn();
        let now = now_ms();
        let cutoff = now - NODE_TTL.as_millis() as i64;
        let (added, _, live): (i64, (), Vec<String>) = redis::pipe()
            .zadd(broker::KEY_NODES, &self.me, now)
            .hset(broker::KEY_NODE_INFO, &self.me, &self.info)
            .zrangebyscore(broker::KEY_NODES, cutoff, "+inf")
            .query_async(&mut conn)
            .await?;
        if added == 1
            && self
                .beats
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                > 0
        {
            tracing::warn!("this node was missing from the registry; writing its presence again");
            if let Some(f) = self.on_readded.get() {
                f();
            }
        }
        let live: HashSet<String> = live.into_iter().collect();
        metrics::gauge!("rtbox_cluster_nodes").set(live.len() as f64);
        *self.live.write() = live;
        if self.sweeper {
            let dead: Vec<String> = conn
                .zrangebyscore(broker::KEY_NODES, "-inf", cutoff)
                .await?;
            for node in dead {
                if node != self.me {
                    self.sweep(broker, svc, &node).await?;
                }
            }
        }
        Ok(())
    }

    /// Leaves the registry at a graceful stop, so no one waits for this node's TTL.
    pub async fn deregister(&self, broker: &Broker) -> redis::RedisResult<()> {
        let mut conn = broker.conn();
        redis::pipe()
            .del(broker::node_topics_key(&self.me))
            .zrem(broker::KEY_NODES, &self.me)
            .hdel(broker::KEY_NODE_INFO, &self.me)
            .query_async(&mut conn)
            .await
    }

    /// Removes a dead node's presence entries and announces its clients' departure.
    pub async fn sweep(
        &self,
        broker: &Broker,
        svc: &ChannelService,
        node: &str,
    ) -> redis::RedisResult<()> {
        let mut conn = broker.conn();
        let topics: Vec<String> = conn.smembers(broker::node_topics_key(node)).await?;
        let mut removed = 0usize;
        for topic in &topics {
            let key = broker::presence_key(topic);
            let entries: Vec<(String, String)> = conn.hgetall(&key).await?;
            for (socket_id, raw) in entries {
                let Ok(entry) = serde_json::from_str::<PresenceEntry>(&raw) else {
                    continue;
                };
                if entry.node != node {
                    continue;
                }
                let _: () = conn.hdel(&key, &socket_id).await?;
                removed += 1;
                if let Some(frame) = leave_frame(svc, topic, &entry) {
                    svc.hub().broadcast_text(topic, frame.clone().into(), None);
                    let msg = Control::Presence {
                        node: self.me.clone(),
                        topic: topic.clone(),
                        frame,
                    };
                    if let Ok(text) = serde_json::to_string(&msg) {
                        let _ = broker.publish(broker::CH_CONTROL, &text).await;
                    }
                }
            }
        }
        let _: () = redis::pipe()
            .del(broker::node_topics_key(node))
            .zrem(broker::KEY_NODES, node)
            .hdel(broker::KEY_NODE_INFO, node)
            .query_async(&mut conn)
            .await?;
        tracing::warn!(
            node,
            removed,
            "node stopped heartbeating; its clients left presence"
        );
        metrics::counter!("rtbox_cluster_nodes_lost_total").increment(1);
        Ok(())
    }
}

/// The `presence_update` leave frame for a swept entry, if its channel has presence.
fn leave_frame(svc: &ChannelService, topic: &str, entry: &PresenceEntry) -> Option<String> {
    let (channel, room) = match topic.split_once('#') {
        Some((c, r)) => (c, Some(r)),
        None => (topic, None),
    };
    let target = svc
        .any_room_target(
            &Actor::Admin(Author::Admin(0)),
            channel,
            crate::channels::model::Permission::None,
        )
        .ok()?;
    if !target.channel.presence {
        return None;
    }
    let to = ReplyTo {
        channel: Some(channel.to_string()),
        room: room.map(str::to_string),
        reference: None,
    };
    Some(presence_update_frame(&to, "leave", &entry.client))
}
