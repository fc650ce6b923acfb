//! [`Peers`] over Redis: each node keeps its own members of presence / private-messaging
//! topics in memory (authoritative for itself) and mirrors them into one Redis hash per
//! topic through a single ordered writer; readers merge the other live nodes' entries
//! with their own. After a Redis restart the node writes its members again.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::AsyncCommands;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::broker::{self, Broker};
use super::nodes::NodeRegistry;
use super::wire::{now_ms, Control, Direct, PresenceEntry};
use crate::channels::Peers;

/// Presence writes queued for Redis at most; past it they are dropped (and counted) and
/// the next resync repairs the shared view.
const WRITE_QUEUE: usize = 65_536;

enum Op {
    Join {
        topic: String,
        socket_id: String,
        entry: String,
    },
    Leave {
        topic: String,
        socket_id: String,
    },
    /// Rewrite every local member (after Redis came back).
    Resync,
}

#[derive(Clone)]
struct Member {
    joined_ms: i64,
    client: Arc<RawValue>,
}

pub struct RedisPeers {
    broker: Arc<Broker>,
    nodes: Arc<NodeRegistry>,
    local: Arc<Mutex<HashMap<String, HashMap<String, Member>>>>,
    writes: mpsc::Sender<Op>,
}

impl RedisPeers {
    pub fn start(broker: Arc<Broker>, nodes: Arc<NodeRegistry>) -> Arc<RedisPeers> {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let peers = Arc::new(RedisPeers {
            broker: broker.clone(),
            nodes: nodes.clone(),
            local: Arc::new(Mutex::new(HashMap::new())),
            writes: tx,
        });
        let local = peers.local.clone();
        actix_web::rt::spawn(write_loop(broker, nodes.me.clone(), local, rx));
        peers
    }

    /// Waits (at most `max`) for queued presence writes to reach Redis.
    pub async fn drain(&self, max: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + max;
        while self.writes.capacity() < self.writes.max_capacity()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Re-registers every local member (the shared view was lost with Redis).
    pub fn resync(&self) {
        self.queue(Op::Resync);
    }

    fn queue(&self, op: Op) {
        if self.writes.try_send(op).is_err() {
            metrics::counter!("rtbox_cluster_presence_writes_dropped_total").increment(1);
        }
    }

    fn entry_json(&self, m: &Member) -> String {
        let entry = PresenceEntry {
            node: self.nodes.me.clone(),
            joined_ms: m.joined_ms,
            client: (*m.client).to_owned(),
        };
        serde_json::to_string(&entry).unwrap_or_default()
    }

    async fn shared_presence(&self, topic: &str) -> redis::RedisResult<Vec<Arc<RawValue>>> {
        let mut conn = self.broker.conn();
        let entries: Vec<(String, String)> = conn.hgetall(broker::presence_key(topic)).await?;
        let mut all: Vec<(i64, Arc<RawValue>)> = Vec::with_capacity(entries.len());
        for (_, raw) in entries {
            let Ok(e) = serde_json::from_str::<PresenceEntry>(&raw) else {
                continue;
            };
            if e.node != self.nodes.me && self.nodes.check_live(&self.broker, &e.node).await {
                all.push((e.joined_ms, Arc::from(e.client)));
            }
        }
        if let Some(mine) = self.local.lock().get(topic) {
            all.extend(mine.values().map(|m| (m.joined_ms, m.client.clone())));
        }
        all.sort_by_key(|(t, _)| *t);
        Ok(all.into_iter().map(|(_, c)| c).collect())
    }
}

impl Peers for RedisPeers {
    fn joined(&self, topic: &str, socket_id: &str, client: &Arc<RawValue>) {
        let member = Member {
            joined_ms: now_ms(),
            client: client.clone(),
        };
        let entry = self.entry_json(&member);
        self.local
            .lock()
            .entry(topic.to_string())
            .or_default()
            .insert(socket_id.to_string(), member);
        self.queue(Op::Join {
            topic: topic.to_string(),
            socket_id: socket_id.to_string(),
            entry,
        });
    }

    fn left(&self, topic: &str, socket_id: &str) {
        {
            let mut local = self.local.lock();
            if let Some(members) = local.get_mut(topic) {
                members.remove(socket_id);
                if members.is_empty() {
                    local.remove(topic);
                }
            }
        }
        self.queue(Op::Leave {
            topic: topic.to_string(),
            socket_id: socket_id.to_string(),
        });
    }

    fn presence<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Option<Vec<Arc<RawValue>>>> {
        Box::pin(async move {
            match self.shared_presence(topic).await {
                Ok(all) => Some(all),
                Err(e) => {
                    tracing::warn!(error = %e, topic, "presence from Redis failed; answering with this node's clients");
                    None
                }
            }
        })
    }

    fn broadcast(&self, topic: &str, frame: &str) {
        let msg = Control::Presence {
            node: self.nodes.me.clone(),
            topic: topic.to_string(),
            frame: frame.to_string(),
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return;
        };
        let broker = self.broker.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = broker.publish(broker::CH_CONTROL, &text).await {
                tracing::debug!(error = %e, "presence update not relayed");
            }
        });
    }

    fn send_private<'a>(
        &'a self,
        topic: &'a str,
        socket_id: &'a str,
        frame: String,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.broker.conn();
            let raw: Option<String> = match conn.hget(broker::presence_key(topic), socket_id).await
            {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(error = %e, "private message lookup failed");
                    return false;
                }
            };
            let Some(entry) = raw.and_then(|r| serde_json::from_str::<PresenceEntry>(&r).ok())
            else {
                return false;
            };
            if entry.node == self.nodes.me
                || !self.nodes.check_live(&self.broker, &entry.node).await
            {
                return false;
            }
            let direct = Direct {
                topic: topic.to_string(),
                socket_id: socket_id.to_string(),
                frame,
            };
            let Ok(text) = serde_json::to_string(&direct) else {
                return false;
            };
            self.broker
                .publish(&broker::node_channel(&entry.node), &text)
                .await
                .is_ok()
        })
    }
}

/// Applies presence writes in order; a failed write is retried once the link is back
/// through a resync rather than replayed one by one.
async fn write_loop(
    broker: Arc<Broker>,
    me: String,
    local: Arc<Mutex<HashMap<String, HashMap<String, Member>>>>,
    mut rx: mpsc::Receiver<Op>,
) {
    let topics_key = broker::node_topics_key(&me);
    while let Some(op) = rx.recv().await {
        let mut conn = broker.conn();
        let result: redis::RedisResult<()> = match op {
            Op::Join {
                topic,
                socket_id,
                entry,
            } => {
                redis::pipe()
                    .hset(broker::presence_key(&topic), &socket_id, &entry)
                    .sadd(&topics_key, &topic)
                    .query_async(&mut conn)
                    .await
            }
            Op::Leave { topic, socket_id } => {
                conn.hdel(broker::presence_key(&topic), &socket_id).await
            }
            Op::Resync => {
                let snapshot: Vec<(String, String, String)> = local
                    .lock()
                    .iter()
                    .flat_map(|(topic, members)| {
                        members.iter().map(|(socket, m)| {
                            let entry = PresenceEntry {
                                node: me.clone(),
                                joined_ms: m.joined_ms,
                                client: (*m.client).to_owned(),
                            };
                            (
                                topic.clone(),
                                socket.clone(),
                                serde_json::to_string(&entry).unwrap_or_default(),
                            )
                        })
                    })
                    .collect();
                let mut pipe = redis::pipe();
                for (topic, socket, entry) in &snapshot {
                    pipe.hset(broker::presence_key(topic), socket, entry)
                        .ignore()
                        .sadd(&topics_key, topic)
                        .ignore();
                }
                if snapshot.is_empty() {
                    Ok(())
                } else {
                    pipe.query_async(&mut conn).await
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "presence write failed (resynced when Redis is back)");
        }
    }
}
