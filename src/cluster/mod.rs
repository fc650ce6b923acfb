//! Scale-out: several rtbox nodes share channels through Redis (SPEC §9).
//!
//! The **primary** owns the SQLite file: it commits every message (ids, history,
//! triggers, livechat) and publishes each committed batch once on Redis, in commit order,
//! from the fan-out stage (never the writer thread). **Edges** hold WebSocket
//! connections: their channel service forwards publishes, history reads and join/leave
//! triggers to the primary (`upstream`), their HTTP API is a reverse proxy to it
//! (`proxy`), and every node hands what arrives from Redis to its local hub through the
//! same `FanOut` seam, so each subscriber gets a message once. Presence and private
//! messages cross nodes through Redis (`presence`), with node heartbeats (`nodes`) so a
//! dead node's clients leave presence within `nodes::NODE_TTL`.
//!
//! Only `server.rs` knows this module: it builds a [`Node`] when `--cluster` is given.

pub mod broker;
pub mod livechat;
pub mod nodes;
pub mod presence;
pub mod primary;
pub mod proxy;
pub mod upstream;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::auth::AuthService;
use crate::channels::message::{Author, Message};
use crate::channels::model::Permission;
use crate::channels::{Actor, ChannelError, ChannelService};
use crate::config::{ClusterRole, ClusterSettings};
use crate::realtime::{CommittedBatch, FanOut, Frame, Hub};
use broker::{Broker, Inbound};
use nodes::NodeRegistry;
use presence::RedisPeers;
use upstream::{HttpUpstream, PrimaryClient};
use wire::{now_ms, Control, Direct, MessageBatch, WireMessage};

/// Committed batches waiting for Redis at most (the primary); past it a batch is dropped
/// and counted — edges' subscribers then catch up from history after their link heals,
/// and clients resume with `last_id`.
const PUBLISH_QUEUE: usize = 65_536;
/// Messages merged into one Redis publication at most.
const PUBLISH_MERGE: usize = 2_048;
/// History page size while catching a topic up after the Redis link came back.
const CATCH_UP_PAGE: i64 = 500;
/// How long an edge waits at start for its Redis subscription before serving anyway.
const FIRST_SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);
/// How often an edge waiting at start for the primary says so.
const FIRST_SYNC_WARN: Duration = Duration::from_secs(5);

/// The cluster gauges `/metrics` exports, also kept for `/api/v1/stats`.
#[derive(Default)]
pub struct Gauges {
    redis_up: AtomicBool,
    redis_lag_micros: AtomicU64,
    primary_up: AtomicBool,
}

impl Gauges {
    fn set_redis_up(&self, up: bool) {
        metrics::gauge!("rtbox_cluster_redis_up").set(if up { 1.0 } else { 0.0 });
        self.redis_up.store(up, Ordering::Relaxed);
    }

    fn set_redis_lag(&self, seconds: f64) {
        metrics::gauge!("rtbox_cluster_redis_lag_seconds").set(seconds);
        metrics::histogram!("rtbox_cluster_redis_hop_seconds").record(seconds);
        self.redis_lag_micros
            .store((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn set_primary_up(&self, up: bool) {
        metrics::gauge!("rtbox_cluster_primary_up").set(if up { 1.0 } else { 0.0 });
        self.primary_up.store(up, Ordering::Relaxed);
    }
}

/// This process as a node of a cluster.
pub struct Node {
    gauges: Arc<Gauges>,
    settings: ClusterSettings,
    broker: Arc<Broker>,
    nodes: Arc<NodeRegistry>,
    publish_rx: Mutex<Option<mpsc::Receiver<Vec<Arc<Message>>>>>,
    publish_tx: mpsc::Sender<Vec<Arc<Message>>>,
    forwarder: Option<web::Data<proxy::Forwarder>>,
    /// The primary's node-to-node API (edges).
    client: Option<Arc<PrimaryClient>>,
    /// Agents' inboxes open on edges (primary).
    inboxes: Arc<livechat::EdgeInboxes>,
    secret: web::Data<primary::NodeSecret>,
    peers: std::sync::OnceLock<Arc<RedisPeers>>,
    follower: std::sync::OnceLock<Arc<upstream::Follower>>,
    /// Highest message id handed to local subscribers per topic: where a catch-up from
    /// history starts after Redis or the primary was away (edges).
    last_seen: Arc<Mutex<HashMap<String, i64>>>,
    /// Live batches held back while a catch-up runs (sessions drop an older id after a
    /// newer one, so history must go out first).
    hold: Arc<Mutex<Hold>>,
}

/// Catch-ups running, and the live messages that arrived meanwhile.
#[derive(Default)]
struct Hold {
    active: usize,
    held: Vec<Arc<Message>>,
}

/// Live messages held during a catch-up at most; past it they are dropped (counted), and
/// clients get them when they resume with `last_id`.
const MAX_HELD: usize = 100_000;

/// The primary's fan-out sink: local subscribers first, then the Redis publisher's queue
/// (a non-blocking push; the fan-out thread never waits on the network).
struct PrimaryFanOut {
    hub: Arc<Hub>,
    publish: mpsc::Sender<Vec<Arc<Message>>>,
}

impl FanOut for PrimaryFanOut {
    fn deliver(&self, batch: CommittedBatch) {
        let messages = batch.messages.clone();
        FanOut::deliver(&*self.hub, batch);
        if self.publish.try_send(messages).is_err() {
            metrics::counter!("rtbox_cluster_publish_dropped_total").increment(1);
        }
    }
}

impl Node {
    /// Validates what can be checked before serving (the Redis URL, the primary URL).
    pub fn new(settings: &ClusterSettings, public_url: &str) -> anyhow::Result<Arc<Node>> {
        let broker = Arc::new(Broker::new(&settings.redis_url)?);
        let role = match settings.role {
            ClusterRole::Primary => "primary",
            ClusterRole::Edge => "edge",
        };
        let nodes = Arc::new(NodeRegistry::new(
            &settings.node_id,
            role,
            public_url,
            settings.role == ClusterRole::Primary,
        ));
        let forwarder = match &settings.primary_url {
            Some(url) => Some(web::Data::new(proxy::Forwarder::new(
                url,
                &settings.secret.0,
                &settings.node_id,
            )?)),
            None => None,
        };
        let client = match &settings.primary_url {
            Some(url) => Some(Arc::new(PrimaryClient::new(
                url,
                &settings.secret.0,
                &settings.node_id,
            )?)),
            None => None,
        };
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        metrics::gauge!("rtbox_cluster_node_info", "node" => settings.node_id.clone(), "role" => role)
            .set(1.0);
        Ok(Arc::new(Node {
            settings: settings.clone(),
            broker,
            nodes,
            publish_rx: Mutex::new(Some(publish_rx)),
            publish_tx,
            gauges: Arc::new(Gauges {
                primary_up: AtomicBool::new(settings.role == ClusterRole::Primary),
                ..Gauges::default()
            }),
            forwarder,
            client,
            inboxes: Arc::new(livechat::EdgeInboxes::default()),
            secret: web::Data::new(primary::NodeSecret::new(&settings.secret.0)),
            peers: std::sync::OnceLock::new(),
            follower: std::sync::OnceLock::new(),
            last_seen: Arc::new(Mutex::new(HashMap::new())),
            hold: Arc::new(Mutex::new(Hold::default())),
        }))
    }

    pub fn is_edge(&self) -> bool {
        self.settings.role == ClusterRole::Edge
    }

    /// The fan-out sink for this node's channel service (`ChannelService::start_with_fanout`).
    pub fn fanout(&self, hub: Arc<Hub>) -> Arc<dyn FanOut> {
        match self.settings.role {
            ClusterRole::Primary => Arc::new(PrimaryFanOut {
                hub,
                publish: self.publish_tx.clone(),
            }),
            // Edges commit nothing: their publishes are the primary's.
            ClusterRole::Edge => hub,
        }
    }

    /// On an edge, puts livechat's socket side (visitor tokens, frames, room membership,
    /// agents' inboxes) on the primary. Must run before the local livechat service
    /// starts, so the channel service takes these hooks, not the local ones.
    pub fn install_livechat(&self, svc: &ChannelService) {
        if let Some(client) = &self.client {
            livechat::EdgeLivechat::new(client.clone()).install(svc);
        }
    }

    /// Joins the cluster: installs the cross-node hooks in the channel service, takes
    /// the primary's definitions (edges), and starts heartbeats, the Redis subscriber and
    /// (primary) the publisher.
    pub async fn start(
        self: &Arc<Self>,
        svc: &Arc<ChannelService>,
        auth: &Arc<AuthService>,
        livechat: &Arc<crate::livechat::LivechatService>,
    ) -> anyhow::Result<()> {
        let peers = RedisPeers::start(self.broker.clone(), self.nodes.clone());
        svc.set_peers(peers.clone());
        let _ = self.peers.set(peers.clone());
        let resync = peers.clone();
        self.nodes.on_readded(move || resync.resync());
        if let (Some(url), Some(client)) = (&self.settings.primary_url, &self.client) {
            let client = client.clone();
            let up = Arc::new(HttpUpstream::new(client.clone()));
            // Without the primary's channels, keys and client-token secret an edge would
            // refuse every client (with 1008, which clients do not retry): it does not
            // listen before it has them.
            let mut next_warning = tokio::time::Instant::now() + FIRST_SYNC_WARN;
            loop {
                match client.definitions().await {
                    Ok(defs) => {
                        up.apply(defs, svc, auth);
                        break;
                    }
                    Err(ChannelError::Forbidden(why)) => anyhow::bail!(
                        "the primary at {url} refused this node: {why} (is --cluster-secret the same on every node?)"
                    ),
                    Err(e) => {
                        if tokio::time::Instant::now() >= next_warning {
                            tracing::warn!(error = %e, primary = %url, "waiting for the primary before serving");
                            next_warning += FIRST_SYNC_WARN;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            svc.set_upstream(up.clone());
            let _ = self.follower.set(Arc::new(upstream::Follower {
                upstream: up.clone(),
                client: client.clone(),
                svc: svc.clone(),
                auth: auth.clone(),
            }));
            auth.set_session_source(client.clone());
            let (catch_svc, seen, hold) = (svc.clone(), self.last_seen.clone(), self.hold.clone());
            self.gauges.set_primary_up(true);
            let gauges = self.gauges.clone();
            actix_web::rt::spawn(up.follow(svc.clone(), auth.clone(), gauges, move || {
                // Batches the primary had not published when it went away are in its
                // history: subscribers here get them now.
                actix_web::rt::spawn(catch_up(catch_svc.clone(), seen.clone(), hold.clone()));
            }));
        }
        // A restarted node with a fixed id: forget what its previous life left behind.
        let _ = self
            .nodes
            .sweep(&self.broker, svc, &self.settings.node_id)
            .await;
        actix_web::rt::spawn(self.nodes.clone().run(self.broker.clone(), svc.clone()));
        if !self.is_edge() {
            self.inboxes.spawn_expiry(livechat.clone());
        }
        if let Some(rx) = self.publish_rx.lock().take() {
            if self.settings.role == ClusterRole::Primary {
                actix_web::rt::spawn(publish_loop(
                    self.broker.clone(),
                    self.settings.node_id.clone(),
                    rx,
                ));
            }
        }
        let subscribed = Arc::new(tokio::sync::Notify::new());
        let inbound = RedisInbound {
            node: self.clone(),
            svc: svc.clone(),
            peers,
            last_seen: self.last_seen.clone(),
            subscribed: subscribed.clone(),
        };
        let mut channels = vec![
            broker::CH_CONTROL.to_string(),
            broker::node_channel(&self.settings.node_id),
        ];
        if self.is_edge() {
            channels.push(broker::CH_MESSAGES.to_string());
        }
        let broker = self.broker.clone();
        actix_web::rt::spawn(async move {
            let inbound = Arc::new(inbound);
            broker
                .subscribe_forever(channels, move |event| inbound.handle(event))
                .await;
        });
        // An edge that listened before its Redis subscription is in place would take
        // subscribers and miss what the primary publishes meanwhile: wait for it (a
        // Redis that is away at start does not keep the edge from serving for long).
        if self.is_edge()
            && tokio::time::timeout(FIRST_SUBSCRIBE_WAIT, subscribed.notified())
                .await
                .is_err()
        {
            tracing::warn!(
                "serving before the Redis subscription is in place; live messages start when it is"
            );
        }
        tracing::info!(
            node = %self.settings.node_id,
            role = ?self.settings.role,
            "cluster node started"
        );
        Ok(())
    }

    /// Tells the edges that definitions changed (primary).
    pub fn announce_definitions(&self) {
        let msg = Control::Definitions {
            node: self.settings.node_id.clone(),
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return;
        };
        let broker = self.broker.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = broker.publish(broker::CH_CONTROL, &text).await {
                tracing::debug!(error = %e, "definitions notice not sent; edges follow within a second anyway");
            }
        });
    }

    /// Takes the primary's definitions now (edges).
    pub async fn refresh_definitions(&self) {
        if let Some(f) = self.follower.get() {
            f.refresh().await;
        }
    }

    /// Leaves the cluster at a graceful stop (after the sockets were closed): the last
    /// presence writes go out and the node leaves the registry at once.
    pub async fn leave(&self) {
        if let Some(peers) = self.peers.get() {
            peers.drain(Duration::from_secs(1)).await;
        }
        if let Err(e) = self.nodes.deregister(&self.broker).await {
            tracing::warn!(error = %e, "could not leave the node registry; the others will time this node out");
        }
    }

    /// Routes this node adds: the node-to-node API (primary) or the proxy (edge). Must
    /// be configured before the public API, so an edge's proxy scopes win.
    pub fn configure(self: &Arc<Self>, cfg: &mut web::ServiceConfig) {
        let status: Arc<dyn crate::stats::NodeStatus> = self.clone();
        cfg.app_data(self.secret.clone())
            .app_data(web::Data::from(self.clone()))
            .app_data(web::Data::from(status));
        match &self.forwarder {
            Some(fwd) => {
                cfg.app_data(fwd.clone());
                proxy::configure(cfg);
            }
            None => {
                cfg.app_data(web::Data::from(self.inboxes.clone()));
                primary::configure(cfg);
            }
        }
    }
}

impl crate::stats::NodeStatus for Node {
    fn status(&self) -> serde_json::Value {
        let g = &self.gauges;
        serde_json::json!({
            "node": self.settings.node_id,
            "role": if self.is_edge() { "edge" } else { "primary" },
            "nodes_seen": self.nodes.live_count(),
            "redis_up": g.redis_up.load(Ordering::Relaxed),
            "redis_lag_seconds": g.redis_lag_micros.load(Ordering::Relaxed) as f64 / 1e6,
            "primary_up": g.primary_up.load(Ordering::Relaxed),
        })
    }
}

/// Whether a successful request changed what edges follow (channels, keys, triggers,
/// the client-token secret).
pub fn changes_definitions(method: &actix_web::http::Method, path: &str) -> bool {
    use actix_web::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let path = path.trim_end_matches('/');
    if ["/publish", "/events", "/test"]
        .iter()
        .any(|tail| path.ends_with(tail))
    {
        return false;
    }
    let rest = path.strip_prefix("/api/v1/").or_else(|| {
        path.strip_prefix("/v1.1/instances/")
            .and_then(|r| r.split_once('/'))
            .map(|(_, r)| r)
    });
    match rest {
        Some(r) => ["channels", "keys", "triggers", "client-secret"]
            .iter()
            .any(|p| r.starts_with(p)),
        None => path.starts_with("/api:meta/"),
    }
}

/// Middleware on cluster nodes. On the primary: a request relayed by an edge (it carries
/// the cluster secret) is attributed to the client's IP, for login limits and logs; and a
/// change of definitions is announced on Redis so edges follow it at once.
pub async fn cluster_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let node = req.app_data::<web::Data<Node>>().cloned();
    let changes = changes_definitions(req.method(), req.path());
    let relayed = req
        .headers()
        .get(proxy::RELAYED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
    if let Some(ip) = relayed {
        let trusted = req
            .app_data::<web::Data<primary::NodeSecret>>()
            .is_some_and(|s| s.admits(req.request()));
        if trusted {
            req.extensions_mut()
                .insert(crate::auth::extract::RelayedClientIp(ip));
        }
    }
    let res = next.call(req).await?;
    if changes && res.status().is_success() {
        if let Some(node) = node.filter(|n| !n.is_edge()) {
            node.announce_definitions();
        }
    }
    Ok(res)
}

/// Publishes committed batches on Redis in order, merging what is queued; a failed
/// publication is retried (with backoff) until Redis takes it, so no committed message is
/// skipped while the queue has room.
async fn publish_loop(
    broker: Arc<Broker>,
    node: String,
    mut rx: mpsc::Receiver<Vec<Arc<Message>>>,
) {
    let mut backoff = Duration::from_millis(50);
    while let Some(mut messages) = rx.recv().await {
        while messages.len() < PUBLISH_MERGE {
            match rx.try_recv() {
                Ok(more) => messages.extend(more),
                Err(_) => break,
            }
        }
        let count = messages.len() as u64;
        let wire: Vec<WireMessage> = messages
            .iter()
            .map(|m| WireMessage::from_message(m))
            .collect();
        let mut batch = MessageBatch {
            node: node.clone(),
            sent_ms: now_ms(),
            messages: wire,
        };
        loop {
            let text = match serde_json::to_string(&batch) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a batch for Redis");
                    break;
                }
            };
            match broker.publish(broker::CH_MESSAGES, &text).await {
                Ok(()) => {
                    metrics::counter!("rtbox_cluster_published_messages_total").increment(count);
                    backoff = Duration::from_millis(50);
                    break;
                }
                Err(e) => {
                    metrics::counter!("rtbox_cluster_publish_retries_total").increment(1);
                    tracing::warn!(error = %e, messages = count, "Redis publish failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    batch.sent_ms = now_ms();
                }
            }
        }
    }
}

/// What a node does with Redis traffic.
struct RedisInbound {
    node: Arc<Node>,
    svc: Arc<ChannelService>,
    peers: Arc<RedisPeers>,
    last_seen: Arc<Mutex<HashMap<String, i64>>>,
    /// Told when the subscription is first in place.
    subscribed: Arc<tokio::sync::Notify>,
}

impl RedisInbound {
    fn handle(&self, event: Inbound) {
        match event {
            Inbound::Up { first } => {
                self.node.gauges.set_redis_up(true);
                if first {
                    self.subscribed.notify_one();
                }
                if !first {
                    metrics::counter!("rtbox_cluster_redis_reconnects_total").increment(1);
                    tracing::info!("Redis link back; catching up");
                    self.peers.resync();
                    if self.node.is_edge() {
                        actix_web::rt::spawn(catch_up(
                            self.svc.clone(),
                            self.last_seen.clone(),
                            self.node.hold.clone(),
                        ));
                    }
                }
            }
            Inbound::Down => self.node.gauges.set_redis_up(false),
            Inbound::Message { channel, payload } => {
                if channel == broker::CH_MESSAGES {
                    self.on_batch(&payload);
                } else if channel == broker::CH_CONTROL {
                    self.on_control(&payload);
                } else {
                    self.on_direct(&payload);
                }
            }
        }
    }

    fn on_batch(&self, payload: &[u8]) {
        let batch: MessageBatch = match serde_json::from_slice(payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "malformed message batch on Redis");
                return;
            }
        };
        let lag = (now_ms() - batch.sent_ms).max(0) as f64 / 1000.0;
        self.node.gauges.set_redis_lag(lag);
        metrics::counter!("rtbox_cluster_received_messages_total")
            .increment(batch.messages.len() as u64);
        let messages: Vec<Arc<Message>> = batch
            .messages
            .into_iter()
            .map(|m| Arc::new(m.into_message()))
            .collect();
        {
            let mut seen = self.last_seen.lock();
            for m in &messages {
                let topic = crate::realtime::topic_key(&m.channel, m.room.as_deref());
                let e = seen.entry(topic).or_insert(0);
                *e = (*e).max(m.id);
            }
            // Topics nobody here listens to any more need no cursor.
            if seen.len() > 4096 {
                let hub = self.svc.hub();
                seen.retain(|t, _| hub.subscriber_count(t) > 0);
            }
        }
        {
            let mut hold = self.node.hold.lock();
            if hold.active > 0 {
                if hold.held.len() + messages.len() <= MAX_HELD {
                    hold.held.extend(messages);
                } else {
                    metrics::counter!("rtbox_cluster_held_dropped_total")
                        .increment(messages.len() as u64);
                }
                return;
            }
        }
        FanOut::deliver(&**self.svc.hub(), CommittedBatch { messages });
    }

    fn on_control(&self, payload: &[u8]) {
        match serde_json::from_slice::<Control>(payload) {
            Ok(Control::Presence { node, topic, frame }) => {
                if node != self.node.settings.node_id {
                    self.svc.hub().broadcast_text(&topic, frame.into(), None);
                }
            }
            Ok(Control::Definitions { .. }) => {
                let node = self.node.clone();
                actix_web::rt::spawn(async move { node.refresh_definitions().await });
            }
            Err(e) => tracing::debug!(error = %e, "unknown control message on Redis"),
        }
    }

    fn on_direct(&self, payload: &[u8]) {
        let Ok(direct) = serde_json::from_slice::<Direct>(payload) else {
            return;
        };
        if let Some(conn) = self.svc.hub().find(&direct.topic, &direct.socket_id) {
            conn.outbox
                .push(Frame::text(bytestring::ByteString::from(direct.frame)));
        }
    }
}

/// After the Redis link came back: every topic with local subscribers gets, from the
/// primary's history, what was committed after the last message it saw (sessions drop
/// anything they already have by id, so the overlap is harmless).
async fn catch_up(
    svc: Arc<ChannelService>,
    last_seen: Arc<Mutex<HashMap<String, i64>>>,
    hold: Arc<Mutex<Hold>>,
) {
    // Hold live traffic first, then take the cursors: nothing falls between the two.
    hold.lock().active += 1;
    let cursors: Vec<(String, i64)> = last_seen
        .lock()
        .iter()
        .filter(|(t, _)| svc.hub().subscriber_count(t) > 0)
        .map(|(t, id)| (t.clone(), *id))
        .collect();
    let admin = Actor::Admin(Author::Admin(0));
    let mut total = 0u64;
    for (topic, mut cursor) in cursors {
        let (channel, room) = match topic.split_once('#') {
            Some((c, r)) => (c, Some(r)),
            None => (topic.as_str(), None),
        };
        let Ok(target) = svc.target(&admin, channel, room, Permission::None) else {
            continue;
        };
        loop {
            let page = match svc
                .history(&target, Some(cursor), false, CATCH_UP_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "catch-up from the primary failed");
                    break;
                }
            };
            let full = page.len() as i64 == CATCH_UP_PAGE;
            if let Some(last) = page.last() {
                cursor = last.id;
            }
            total += page.len() as u64;
            if !page.is_empty() {
                FanOut::deliver(&**svc.hub(), CommittedBatch { messages: page });
            }
            if !full {
                break;
            }
        }
        let mut seen = last_seen.lock();
        let e = seen.entry(topic).or_insert(0);
        *e = (*e).max(cursor);
    }
    let held = {
        let mut h = hold.lock();
        h.active -= 1;
        if h.active == 0 {
            std::mem::take(&mut h.held)
        } else {
            Vec::new()
        }
    };
    if !held.is_empty() {
        FanOut::deliver(&**svc.hub(), CommittedBatch { messages: held });
    }
    metrics::counter!("rtbox_cluster_catchup_messages_total").increment(total);
    tracing::info!(messages = total, "caught up after the Redis link came back");
}

#[cfg(test)]
mod tests {
    use super::changes_definitions;
    use actix_web::http::Method;

    #[test]
    fn definition_changes_are_told_from_traffic() {
        assert!(changes_definitions(&Method::POST, "/api/v1/channels"));
        assert!(changes_definitions(&Method::PATCH, "/api/v1/channels/a/b"));
        assert!(changes_definitions(&Method::DELETE, "/api/v1/keys/3"));
        assert!(changes_definitions(
            &Method::POST,
            "/api/v1/client-secret/rotate"
        ));
        assert!(changes_definitions(
            &Method::POST,
            "/v1.1/instances/x/channels/"
        ));
        assert!(changes_definitions(
            &Method::POST,
            "/api:meta/workspace/1/realtime/channel/trigger"
        ));
        assert!(!changes_definitions(&Method::GET, "/api/v1/channels"));
        assert!(!changes_definitions(
            &Method::POST,
            "/api/v1/channels/a/publish"
        ));
        assert!(!changes_definitions(
            &Method::POST,
            "/v1.1/instances/x/channels/a/publish/"
        ));
        assert!(!changes_definitions(
            &Method::POST,
            "/api/v1/channels/a/events"
        ));
        assert!(!changes_definitions(
            &Method::POST,
            "/api/v1/triggers/1/test"
        ));
        assert!(!changes_definitions(
            &Method::POST,
            "/api/v1/livechat/message"
        ));
    }
}
