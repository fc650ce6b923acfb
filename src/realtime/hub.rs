//! The hub: which connections listen to which topic (a channel, or a channel's room),
//! fan-out that serializes a message once and shares the bytes, presence lists, and
//! long-poll waiters. Never blocks on a socket: it only pushes into bounded outboxes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytestring::ByteString;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::outbox::{Frame, Outbox, Outgoing};
use crate::channels::message::Message;

/// How a connection wants channel messages written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The Xano envelope `{action, options, payload}` (`/ws`, `/rt/…`).
    Envelope,
    /// The bare Syncano message object (`poll/?transport=websocket`), links under `base`
    /// (the route family the client used).
    Syncano { base: Arc<str> },
}

/// A live connection as the hub sees it.
pub struct Conn {
    pub id: u64,
    pub socket_id: Arc<str>,
    /// `{socketId, extras, permissions}`, shown in presence and on the frames it sends;
    /// replaced when the client authenticates with an `auth` frame.
    pub client: RwLock<Arc<RawValue>>,
    pub outbox: Outbox,
    pub format: Format,
    pub ip: Option<IpAddr>,
}

/// `channel` or `channel#room` (`#` cannot appear in channel names).
pub fn topic_key(channel: &str, room: Option<&str>) -> String {
    match room {
        Some(room) => format!("{channel}#{room}"),
        None => channel.to_string(),
    }
}

struct Poller {
    after_id: i64,
    tx: oneshot::Sender<Arc<Message>>,
}

#[derive(Default)]
struct Topic {
    subs: Vec<Arc<Conn>>,
    pollers: Mutex<Vec<Poller>>,
}

#[derive(Default)]
pub struct Hub {
    topics: RwLock<HashMap<Arc<str>, Topic>>,
    conns: RwLock<HashMap<u64, Arc<Conn>>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_id: AtomicU64,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a connection from `ip`; `false` (and nothing counted) past `limit`.
    pub fn admit_ip(&self, ip: IpAddr, limit: usize) -> bool {
        let mut per_ip = self.per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    pub fn release_ip(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    pub fn register(&self, conn: Arc<Conn>) {
        self.conns.write().insert(conn.id, conn);
        metrics::gauge!("rtbox_connections").increment(1.0);
    }

    pub fn unregister(&self, conn_id: u64) {
        if self.conns.write().remove(&conn_id).is_some() {
            metrics::gauge!("rtbox_connections").decrement(1.0);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.read().len()
    }

    /// Adds `conn` to a topic; returns the shared key used in its `Outgoing::Live` frames.
    pub fn subscribe(&self, key: &str, conn: &Arc<Conn>) -> Arc<str> {
        let mut topics = self.topics.write();
        if !topics.contains_key(key) {
            topics.insert(Arc::from(key), Topic::default());
        }
        // The map's own key is the shared topic name handed out in frames.
        let shared = match topics.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        let Some(topic) = topics.get_mut(key) else {
            return shared;
        };
        if !topic.subs.iter().any(|c| c.id == conn.id) {
            topic.subs.push(conn.clone());
            metrics::gauge!("rtbox_subscriptions").increment(1.0);
        }
        shared
    }

    /// Removes `conn_id` from a topic; `true` if it was there.
    pub fn unsubscribe(&self, key: &str, conn_id: u64) -> bool {
        let mut topics = self.topics.write();
        let Some(topic) = topics.get_mut(key) else {
            return false;
        };
        let before = topic.subs.len();
        topic.subs.retain(|c| c.id != conn_id);
        let removed = topic.subs.len() != before;
        if removed {
            metrics::gauge!("rtbox_subscriptions").decrement(1.0);
        }
        if topic.subs.is_empty() && topic.pollers.lock().is_empty() {
            topics.remove(key);
        }
        removed
    }

    /// Clients subscribed to a topic, in join order.
    pub fn presence(&self, key: &str) -> Vec<Arc<RawValue>> {
        self.topics
            .read()
            .get(key)
            .map(|t| t.subs.iter().map(|c| c.client.read().clone()).collect())
            .unwrap_or_default()
    }

    /// The subscriber of a topic with this socket id.
    pub fn find(&self, key: &str, socket_id: &str) -> Option<Arc<Conn>> {
        self.topics
            .read()
            .get(key)
            .and_then(|t| t.subs.iter().find(|c| &*c.socket_id == socket_id).cloned())
    }

    /// Sends a control frame to every subscriber of a topic except `except`.
    pub fn broadcast_text(&self, key: &str, frame: ByteString, except: Option<u64>) {
        if let Some(topic) = self.topics.read().get(key) {
            let frame = Frame::text(frame);
            for conn in topic.subs.iter().filter(|c| Some(c.id) != except) {
                conn.outbox.push(frame.clone());
            }
        }
    }

    /// Fan-out of a committed message: serialized once per format, bytes shared by every
    /// subscriber; waiting long-polls are answered.
    pub fn deliver(&self, msg: &Arc<Message>) {
        let key = topic_key(&msg.channel, msg.room.as_deref());
        let topics = self.topics.read();
        let Some((shared, topic)) = topics.get_key_value(key.as_str()) else {
            return;
        };
        if !topic.subs.is_empty() {
            let mut envelope = None;
            let mut syncano: Vec<(&str, Outgoing)> = Vec::new();
            let mut delivered = 0u64;
            for conn in &topic.subs {
                let frame = match &conn.format {
                    Format::Envelope => envelope
                        .get_or_insert_with(|| {
                            Frame::live(shared.clone(), msg.id, msg.ws_frame().into())
                        })
                        .clone(),
                    Format::Syncano { base } => match syncano.iter().find(|(b, _)| *b == &**base) {
                        Some((_, f)) => f.clone(),
                        None => {
                            let f = Frame::live(
                                shared.clone(),
                                msg.id,
                                msg.to_json_string(base).into(),
                            );
                            syncano.push((base, f.clone()));
                            f
                        }
                    },
                };
                if conn.outbox.push(frame) {
                    delivered += 1;
                }
            }
            metrics::counter!("rtbox_messages_delivered_total").increment(delivered);
            let dropped = topic.subs.len() as u64 - delivered;
            if dropped > 0 {
                metrics::counter!("rtbox_messages_dropped_total").increment(dropped);
            }
        }
        let mut pollers = topic.pollers.lock();
        if !pollers.is_empty() {
            let waiting = std::mem::take(&mut *pollers);
            for p in waiting {
                if msg.id > p.after_id {
                    let _ = p.tx.send(msg.clone());
                } else if !p.tx.is_closed() {
                    pollers.push(p);
                }
            }
        }
    }

    /// Registers a long-poll waiter for the next message on a topic with id > `after_id`.
    pub fn wait_next(&self, key: &str, after_id: i64) -> oneshot::Receiver<Arc<Message>> {
        let (tx, rx) = oneshot::channel();
        let mut topics = self.topics.write();
        let topic = topics.entry(Arc::from(key)).or_default();
        let mut pollers = topic.pollers.lock();
        pollers.retain(|p| !p.tx.is_closed());
        pollers.push(Poller { after_id, tx });
        rx
    }

    /// Drops topics left with neither subscribers nor live waiters (abandoned polls).
    pub fn sweep(&self) {
        self.topics.write().retain(|_, t| {
            let mut pollers = t.pollers.lock();
            pollers.retain(|p| !p.tx.is_closed());
            !t.subs.is_empty() || !pollers.is_empty()
        });
    }

    /// Asks every connection to close with `code` (1012 at shutdown).
    pub fn close_all(&self, code: u16) {
        for conn in self.conns.read().values() {
            conn.outbox.request_close(code);
        }
    }
}
