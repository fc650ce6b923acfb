//! The hub: which connections listen to which topic (a channel, or a channel's room),
//! local fan-out that serializes a message once and shares the bytes, presence lists,
//! long-poll waiters and per-IP connection slots. Never blocks on a socket: it only
//! pushes into bounded outboxes. Committed messages reach it through the fan-out stage
//! (`fanout`), never on the writer thread.

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
    /// This connection's count against its IP's limit, given back when the last
    /// reference to the connection goes (however the session ended, or if it never ran).
    pub ip_slot: Option<IpSlot>,
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

struct Subscriber {
    conn: Arc<Conn>,
    /// Join order, for presence lists.
    joined: u64,
}

/// A topic's subscribers: a dense list (fan-out walks it) and an index by connection id,
/// so joining and leaving are O(1) whatever the topic's size.
#[derive(Default)]
struct Subs {
    list: Vec<Subscriber>,
    index: HashMap<u64, usize>,
    /// Set (under this lock) when the topic is taken out of the map; whoever finds it set
    /// retries on a fresh topic, so no join lands on a topic nobody can reach.
    retired: bool,
}

impl Subs {
    fn insert(&mut self, conn: &Arc<Conn>, joined: u64) -> bool {
        if self.index.contains_key(&conn.id) {
            return false;
        }
        self.index.insert(conn.id, self.list.len());
        self.list.push(Subscriber {
            conn: conn.clone(),
            joined,
        });
        true
    }

    fn remove(&mut self, conn_id: u64) -> bool {
        let Some(at) = self.index.remove(&conn_id) else {
            return false;
        };
        self.list.swap_remove(at);
        if let Some(moved) = self.list.get(at) {
            self.index.insert(moved.conn.id, at);
        }
        true
    }
}

struct Topic {
    /// The shared name handed out in `Frame::live` (one allocation per topic).
    name: Arc<str>,
    subs: RwLock<Subs>,
    pollers: Mutex<Vec<Poller>>,
}

impl Topic {
    /// Whether nothing listens any more; called with the subscriber lock held.
    fn idle(&self, subs: &Subs) -> bool {
        subs.list.is_empty() && {
            let mut pollers = self.pollers.lock();
            pollers.retain(|p| !p.tx.is_closed());
            pollers.is_empty()
        }
    }
}

/// A connection slot counted against its IP address, released when dropped.
pub struct IpSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        self.hub.release_ip(self.ip);
    }
}

/// Locks: the topic map's lock is held only to find, add or remove a topic; joins,
/// leaves and fan-out take that topic's own lock, so a busy topic never slows others.
#[derive(Default)]
pub struct Hub {
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    conns: RwLock<HashMap<u64, Arc<Conn>>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_id: AtomicU64,
    next_join: AtomicU64,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a connection from `ip`; `None` (and nothing counted) past `limit`. The
    /// slot is given back when the returned guard is dropped.
    pub fn admit_ip(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<IpSlot> {
        let mut per_ip = self.per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            hub: self.clone(),
            ip,
        })
    }

    fn release_ip(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    /// Connections currently counted against `ip`.
    pub fn ip_count(&self, ip: IpAddr) -> usize {
        self.per_ip.lock().get(&ip).copied().unwrap_or(0)
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

    fn topic(&self, key: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(key).cloned()
    }

    fn topic_or_create(&self, key: &str) -> Arc<Topic> {
        if let Some(topic) = self.topic(key) {
            return topic;
        }
        let mut topics = self.topics.write();
        if let Some(topic) = topics.get(key) {
            return topic.clone();
        }
        let name: Arc<str> = Arc::from(key);
        let topic = Arc::new(Topic {
            name: name.clone(),
            subs: RwLock::new(Subs::default()),
            pollers: Mutex::new(Vec::new()),
        });
        topics.insert(name, topic.clone());
        topic
    }

    /// Takes `topic` out of the map if nothing listens to it any more.
    fn retire_if_idle(&self, topic: &Arc<Topic>) {
        let mut topics = self.topics.write();
        let Some(current) = topics.get(&*topic.name) else {
            return;
        };
        if !Arc::ptr_eq(current, topic) {
            return;
        }
        let mut subs = topic.subs.write();
        if topic.idle(&subs) {
            subs.retired = true;
            topics.remove(&*topic.name);
        }
    }

    /// Adds `conn` to a topic (O(1)); returns the shared key used in its
    /// `Outgoing::Live` frames.
    pub fn subscribe(&self, key: &str, conn: &Arc<Conn>) -> Arc<str> {
        loop {
            let topic = self.topic_or_create(key);
            let mut subs = topic.subs.write();
            if subs.retired {
                continue;
            }
            let joined = self.next_join.fetch_add(1, Ordering::Relaxed);
            if subs.insert(conn, joined) {
                metrics::gauge!("rtbox_subscriptions").increment(1.0);
            }
            return topic.name.clone();
        }
    }

    /// Removes `conn_id` from a topic (O(1)); `true` if it was there.
    pub fn unsubscribe(&self, key: &str, conn_id: u64) -> bool {
        let Some(topic) = self.topic(key) else {
            return false;
        };
        let (removed, idle) = {
            let mut subs = topic.subs.write();
            let removed = subs.remove(conn_id);
            (removed, removed && topic.idle(&subs))
        };
        if removed {
            metrics::gauge!("rtbox_subscriptions").decrement(1.0);
        }
        if idle {
            self.retire_if_idle(&topic);
        }
        removed
    }

    /// Subscribers of a topic.
    pub fn subscriber_count(&self, key: &str) -> usize {
        self.topic(key).map_or(0, |t| t.subs.read().list.len())
    }

    /// Topics in the map (with subscribers or waiting polls).
    pub fn topic_count(&self) -> usize {
        self.topics.read().len()
    }

    /// Clients subscribed to a topic, in join order.
    pub fn presence(&self, key: &str) -> Vec<Arc<RawValue>> {
        let Some(topic) = self.topic(key) else {
            return Vec::new();
        };
        let subs = topic.subs.read();
        let mut joined: Vec<(u64, Arc<RawValue>)> = subs
            .list
            .iter()
            .map(|s| (s.joined, s.conn.client.read().clone()))
            .collect();
        drop(subs);
        joined.sort_unstable_by_key(|(seq, _)| *seq);
        joined.into_iter().map(|(_, client)| client).collect()
    }

    /// The subscriber of a topic with this socket id.
    pub fn find(&self, key: &str, socket_id: &str) -> Option<Arc<Conn>> {
        let topic = self.topic(key)?;
        let subs = topic.subs.read();
        subs.list
            .iter()
            .find(|s| &*s.conn.socket_id == socket_id)
            .map(|s| s.conn.clone())
    }

    /// Sends a control frame to every subscriber of a topic except `except`.
    pub fn broadcast_text(&self, key: &str, frame: ByteString, except: Option<u64>) {
        if let Some(topic) = self.topic(key) {
            let frame = Frame::text(frame);
            for s in topic.subs.read().list.iter() {
                if Some(s.conn.id) != except {
                    s.conn.outbox.push(frame.clone());
                }
            }
        }
    }

    /// Fan-out of one committed message (see [`FanOut`](super::fanout::FanOut)):
    /// serialized once per format, bytes shared by every subscriber; waiting long-polls
    /// are answered.
    pub fn deliver_message(&self, msg: &Arc<Message>) {
        let key = topic_key(&msg.channel, msg.room.as_deref());
        let Some(topic) = self.topic(&key) else {
            return;
        };
        let shared = &topic.name;
        {
            let subs = topic.subs.read();
            if !subs.list.is_empty() {
                let mut envelope = None;
                let mut syncano: Vec<(&str, Outgoing)> = Vec::new();
                let mut delivered = 0u64;
                for s in &subs.list {
                    let conn = &s.conn;
                    let frame = match &conn.format {
                        Format::Envelope => envelope
                            .get_or_insert_with(|| {
                                Frame::live(shared.clone(), msg.id, msg.ws_frame().into())
                            })
                            .clone(),
                        Format::Syncano { base } => {
                            match syncano.iter().find(|(b, _)| *b == &**base) {
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
                            }
                        }
                    };
                    if conn.outbox.push(frame) {
                        delivered += 1;
                    }
                }
                metrics::counter!("rtbox_messages_delivered_total").increment(delivered);
                let dropped = subs.list.len() as u64 - delivered;
                if dropped > 0 {
                    metrics::counter!("rtbox_messages_dropped_total").increment(dropped);
                }
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
        loop {
            let topic = self.topic_or_create(key);
            // Read lock: retiring a topic takes the write lock, so it cannot happen
            // between this check and the push.
            let subs = topic.subs.read();
            if subs.retired {
                continue;
            }
            let mut pollers = topic.pollers.lock();
            pollers.retain(|p| !p.tx.is_closed());
            pollers.push(Poller { after_id, tx });
            return rx;
        }
    }

    /// Drops topics left with neither subscribers nor live waiters (abandoned polls).
    pub fn sweep(&self) {
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            let idle = topic.idle(&topic.subs.read());
            if idle {
                self.retire_if_idle(&topic);
            }
        }
    }

    /// Asks every connection to close with `code` (1012 at shutdown).
    pub fn close_all(&self, code: u16) {
        for conn in self.conns.read().values() {
            conn.outbox.request_close(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(hub: &Hub, name: &str) -> Arc<Conn> {
        let (outbox, rx) = Outbox::new(16, 1 << 20);
        std::mem::forget(rx);
        Arc::new(Conn {
            id: hub.next_conn_id(),
            socket_id: Arc::from(name),
            client: RwLock::new(Arc::from(
                RawValue::from_string(format!("\"{name}\"")).unwrap(),
            )),
            outbox,
            format: Format::Envelope,
            ip: None,
            ip_slot: None,
        })
    }

    #[test]
    fn leaving_keeps_the_others_and_presence_stays_in_join_order() {
        let hub = Hub::new();
        let conns: Vec<_> = (0..5).map(|i| conn(&hub, &format!("c{i}"))).collect();
        for c in &conns {
            hub.subscribe("t", c);
        }
        hub.subscribe("t", &conns[0]); // a second join is not a second subscriber
        assert_eq!(hub.subscriber_count("t"), 5);
        assert!(hub.unsubscribe("t", conns[1].id));
        assert!(!hub.unsubscribe("t", conns[1].id));
        assert!(hub.unsubscribe("t", conns[4].id));
        let names: Vec<String> = hub.presence("t").iter().map(|c| c.get().into()).collect();
        assert_eq!(names, ["\"c0\"", "\"c2\"", "\"c3\""]);
        assert_eq!(hub.find("t", "c3").map(|c| c.id), Some(conns[3].id));
        for c in [&conns[0], &conns[2], &conns[3]] {
            assert!(hub.unsubscribe("t", c.id));
        }
        assert_eq!(hub.topic_count(), 0, "an empty topic is removed");
    }

    #[test]
    fn concurrent_join_and_leave_never_loses_a_subscriber() {
        let hub = Arc::new(Hub::new());
        let stayer = conn(&hub, "stay");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    let c = conn(&hub, &format!("churn{i}"));
                    for _ in 0..5_000 {
                        hub.subscribe("t", &c);
                        hub.unsubscribe("t", c.id);
                    }
                })
            })
            .collect();
        for _ in 0..5_000 {
            hub.subscribe("t", &stayer);
            assert_eq!(hub.find("t", "stay").map(|c| c.id), Some(stayer.id));
            hub.unsubscribe("t", stayer.id);
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(hub.topic_count(), 0);
    }

    #[test]
    fn ip_slots_are_given_back_when_dropped() {
        let hub = Arc::new(Hub::new());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = hub.admit_ip(ip, 2).unwrap();
        let _b = hub.admit_ip(ip, 2).unwrap();
        assert!(hub.admit_ip(ip, 2).is_none());
        drop(a);
        assert_eq!(hub.ip_count(ip), 1);
        assert!(hub.admit_ip(ip, 2).is_some());
    }
}
