//! The Redis side of a node: one multiplexed command connection (reconnects by itself,
//! with exponential backoff) and one subscriber connection per node, re-established with
//! backoff by [`Broker::subscribe_forever`]. Key and channel names live here.

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

/// Committed messages, published once by the primary.
pub const CH_MESSAGES: &str = "rtbox:messages";
/// Presence updates between nodes.
pub const CH_CONTROL: &str = "rtbox:control";
/// Live nodes: sorted set, score = last heartbeat (unix ms).
pub const KEY_NODES: &str = "rtbox:nodes";
/// Node descriptions: hash node id → JSON.
pub const KEY_NODE_INFO: &str = "rtbox:node-info";

/// Frames for subscribers held by one node.
pub fn node_channel(node: &str) -> String {
    format!("rtbox:node:{node}")
}

/// Presence of one topic: hash socket id → `PresenceEntry` JSON.
pub fn presence_key(topic: &str) -> String {
    format!("rtbox:presence:{topic}")
}

/// Topics a node has presence entries in (for sweeping a dead node's entries).
pub fn node_topics_key(node: &str) -> String {
    format!("rtbox:node-topics:{node}")
}

/// A Redis command timeout: past it a call fails (and the caller retries or degrades)
/// instead of hanging a task on a dead link.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber connection is pinged; a silent link is re-established.
const SUBSCRIBER_PING: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(3);

pub struct Broker {
    client: redis::Client,
    conn: ConnectionManager,
}

/// What arrives on the subscriber connection, or a change of its state.
pub enum Inbound {
    /// (Re)subscribed; `first` is false after a reconnect.
    Up {
        first: bool,
    },
    Down,
    Message {
        channel: String,
        payload: Vec<u8>,
    },
}

impl Broker {
    /// Prepares both connections; nothing is dialled yet, so a node starts (and keeps
    /// its sockets) while Redis is away.
    pub fn new(url: &str) -> anyhow::Result<Broker> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid --cluster URL {url:?}: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_min_delay(BACKOFF_MIN)
            .set_max_delay(BACKOFF_MAX)
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| anyhow::anyhow!("cannot set up the Redis connection: {e}"))?;
        Ok(Broker { client, conn })
    }

    /// The shared command connection (cheap to clone; reconnects by itself).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.publish::<_, _, ()>(channel, payload).await
    }

    /// Subscribes to `channels` and hands everything to `on`, reconnecting with
    /// exponential backoff whenever the link drops, forever.
    pub async fn subscribe_forever(&self, channels: Vec<String>, mut on: impl FnMut(Inbound)) {
        let mut backoff = BACKOFF_MIN;
        let mut first = true;
        loop {
            match self.open_subscriber(&channels).await {
                Ok((mut sink, mut stream)) => {
                    backoff = BACKOFF_MIN;
                    on(Inbound::Up { first });
                    first = false;
                    let mut ping = tokio::time::interval(SUBSCRIBER_PING);
                    ping.tick().await;
                    loop {
                        tokio::select! {
                            msg = stream.next() => match msg {
                                Some(msg) => on(Inbound::Message {
                                    channel: msg.get_channel_name().to_string(),
                                    payload: msg.get_payload_bytes().to_vec(),
                                }),
                                None => break,
                            },
                            _ = ping.tick() => {
                                let alive = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await;
                                // (In subscribed mode Redis answers PING with
                                // ["pong", ""], so any reply will do.)
                                match alive {
                                    Ok(Ok(_)) => {}
                                    Ok(Err(e)) => {
                                        tracing::warn!(error = %e, "Redis subscriber ping failed");
                                        break;
                                    }
                                    Err(_) => {
                                        tracing::warn!("Redis subscriber ping timed out");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    tracing::warn!("Redis subscriber link lost; reconnecting");
                    on(Inbound::Down);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot reach Redis");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn open_subscriber(
        &self,
        channels: &[String],
    ) -> redis::RedisResult<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
        for ch in channels {
            pubsub.subscribe(ch).await?;
        }
        Ok(pubsub.split())
    }
}
