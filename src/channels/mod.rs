//! Channels: the registry of channel settings, the publish pipeline
//! (permission → triggers → writer → fan-out stage → hub), history, long-poll and the history pruner.
//! Knows nothing of HTTP or WebSocket framing.

pub mod access;
pub mod input;
pub mod message;
pub mod model;
pub mod peers;
mod publish;
pub mod registry;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::config::Settings;
use crate::realtime::{topic_key, FanOut, FanOutStage, Hub};
use crate::store::StoreError;
use crate::store::{self, channels as channel_rows, messages, Db};
use crate::triggers::TriggerService;
pub use access::{Actor, Membership, Profile, Staff};
use message::Message;
use model::{validate_name, validate_room, Channel, ChannelType, Permission};
pub use peers::{Peers, Upstream};
pub use publish::{Origin, PublishRequest, Published};
use registry::Registry;

/// Channels pruned per write job (see `prune_once`).
const PRUNE_CHANNELS_PER_WRITE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("Not found.")]
    NotFound,
    #[error("{reason}")]
    Field { field: String, reason: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("Authentication credentials were not provided.")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("Custom publish not allowed on this channel.")]
    CustomPublishDisabled,
    #[error("Payload is larger than {0} bytes.")]
    TooLarge(usize),
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    TriggerError(String),
    #[error("Rate limit exceeded; slow down.")]
    RateLimited,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChannelError {
    pub fn field(field: &str, reason: impl Into<String>) -> ChannelError {
        ChannelError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A concrete channel (and room) an actor may use, with its settings.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub room: Option<String>,
    pub channel: Arc<Channel>,
}

impl Target {
    pub fn topic(&self) -> String {
        topic_key(&self.name, self.room.as_deref())
    }
}

pub struct ChannelService {
    db: Db,
    settings: Arc<Settings>,
    triggers: Arc<TriggerService>,
    registry: Registry,
    hub: Arc<Hub>,
    /// Committed messages go here, off the writer thread, to the hub or a broker.
    fanout: Arc<FanOutStage>,
    /// Ids of channels whose history is not persisted (no SQLite on their path).
    memory_ids: Mutex<HashMap<String, i64>>,
    /// Who belongs to dialect-owned channels (livechat), installed once at start.
    membership: OnceLock<Arc<dyn Membership>>,
    /// What a dialect adds to WebSocket sessions (visitor auth and events).
    session_dialect: OnceLock<Arc<dyn crate::realtime::SessionDialect>>,
    /// Subscribers on other nodes (cluster only).
    peers: OnceLock<Arc<dyn Peers>>,
    /// The node owning the database, when it is not this one (cluster edges).
    upstream: OnceLock<Arc<dyn Upstream>>,
}

pub const API_BASE: &str = "/api/v1";

impl ChannelService {
    /// A service whose committed messages fan out to local subscribers only.
    pub async fn start(
        db: Db,
        settings: Arc<Settings>,
        triggers: Arc<TriggerService>,
    ) -> Result<Arc<ChannelService>, StoreError> {
        Self::start_with_fanout(db, settings, triggers, |hub| hub).await
    }

    /// Like [`ChannelService::start`], with committed messages handed to the sink
    /// `fanout` builds from the local hub (a cluster broker wraps or replaces local
    /// delivery here; see `realtime::fanout`).
    pub async fn start_with_fanout(
        db: Db,
        settings: Arc<Settings>,
        triggers: Arc<TriggerService>,
        fanout: impl FnOnce(Arc<Hub>) -> Arc<dyn FanOut>,
    ) -> Result<Arc<ChannelService>, StoreError> {
        let channels = db.read(channel_rows::all).await?;
        let hub = Arc::new(Hub::new());
        let stage = FanOutStage::start(fanout(hub.clone()))
            .map_err(|e| StoreError::Other(format!("cannot start the fan-out thread: {e}")))?;
        Ok(Arc::new(ChannelService {
            db,
            settings,
            triggers,
            registry: Registry::load(channels),
            hub,
            fanout: Arc::new(stage),
            memory_ids: Mutex::new(HashMap::new()),
            membership: OnceLock::new(),
            session_dialect: OnceLock::new(),
            peers: OnceLock::new(),
            upstream: OnceLock::new(),
        }))
    }

    /// Joins this service to other nodes' subscribers (once, at start).
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Makes another node the owner of messages, history and triggers (once, at start).
    pub fn set_upstream(&self, upstream: Arc<dyn Upstream>) {
        let _ = self.upstream.set(upstream);
    }

    pub(crate) fn upstream(&self) -> Option<&Arc<dyn Upstream>> {
        self.upstream.get()
    }

    /// Replaces every channel definition (a node that follows another's definitions).
    pub fn replace_definitions(&self, channels: Vec<Channel>) {
        self.registry.replace_all(channels);
    }

    // ---- subscribers across nodes ------------------------------------------------------

    /// Whether this topic's subscribers are tracked beyond this node.
    fn shared_membership(target: &Target) -> bool {
        target.channel.presence || target.channel.private_messaging
    }

    /// A local connection subscribed (after `hub().subscribe`).
    pub fn subscribed(&self, target: &Target, socket_id: &str, client: &Arc<RawValue>) {
        if let Some(peers) = self.peers.get() {
            if Self::shared_membership(target) {
                peers.joined(&target.topic(), socket_id, client);
            }
        }
    }

    /// A local connection unsubscribed (after `hub().unsubscribe`).
    pub fn unsubscribed(&self, target: &Target, socket_id: &str) {
        if let Some(peers) = self.peers.get() {
            if Self::shared_membership(target) {
                peers.left(&target.topic(), socket_id);
            }
        }
    }

    /// Who is subscribed to a topic, on every node.
    pub async fn presence(&self, topic: &str) -> Vec<Arc<RawValue>> {
        if let Some(peers) = self.peers.get() {
            if let Some(all) = peers.presence(topic).await {
                return all;
            }
        }
        self.hub.presence(topic)
    }

    /// A frame never stored (presence update, typing) for the topic's subscribers here
    /// (except `except`) and on other nodes.
    pub fn broadcast_ephemeral(&self, topic: &str, frame: String, except: Option<u64>) {
        if let Some(peers) = self.peers.get() {
            peers.broadcast(topic, &frame);
        }
        self.hub.broadcast_text(topic, frame.into(), except);
    }

    /// Delivers a private frame to the subscriber `socket_id` of `topic`, wherever it is
    /// connected; `false` if nobody by that id is subscribed.
    pub async fn send_private(&self, topic: &str, socket_id: &str, frame: String) -> bool {
        if let Some(peer) = self.hub.find(topic, socket_id) {
            peer.outbox
                .push(crate::realtime::Frame::text(bytestring::ByteString::from(
                    frame,
                )));
            return true;
        }
        match self.peers.get() {
            Some(peers) => peers.send_private(topic, socket_id, frame).await,
            None => false,
        }
    }

    /// Whether leave triggers would run for this channel (here or on the owner).
    pub fn has_leave_triggers(&self, channel: &str) -> bool {
        match self.upstream.get() {
            Some(up) => up.has_triggers(channel, crate::triggers::TriggerAction::Leave),
            None => self
                .triggers
                .has_active(channel, crate::triggers::TriggerAction::Leave),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn triggers(&self) -> &Arc<TriggerService> {
        &self.triggers
    }

    /// Installs a dialect's membership rules (livechat); later calls are ignored.
    pub fn install_membership(&self, membership: Arc<dyn Membership>) {
        let _ = self.membership.set(membership);
    }

    pub fn install_session_dialect(&self, dialect: Arc<dyn crate::realtime::SessionDialect>) {
        let _ = self.session_dialect.set(dialect);
    }

    pub fn session_dialect(&self) -> Option<&Arc<dyn crate::realtime::SessionDialect>> {
        self.session_dialect.get()
    }

    /// The settings a concrete channel lives under: a dialect's own channels first, then
    /// the registry (exact names, then the longest pattern).
    pub fn resolve(&self, name: &str) -> Option<Arc<Channel>> {
        self.membership
            .get()
            .and_then(|m| m.channel(name))
            .or_else(|| self.registry.resolve(name))
    }

    /// Lets a dialect's membership learn what it needs before `actor` joins `name`.
    pub async fn refresh_membership(&self, actor: &Actor, name: &str) {
        if let Some(wait) = self.membership.get().and_then(|m| m.refresh(actor, name)) {
            wait.await;
        }
    }

    /// What `actor` may do on the concrete channel `name`.
    pub fn permission_of(&self, actor: &Actor, channel: &Channel, name: &str) -> Permission {
        actor.permission(channel, name, self.membership.get().map(|m| m.as_ref()))
    }

    // ---- settings CRUD ---------------------------------------------------------------

    pub fn list(&self) -> Vec<Arc<Channel>> {
        self.registry.list()
    }

    pub fn definition(&self, raw_name: &str) -> Result<Arc<Channel>, ChannelError> {
        let name = validate_name(raw_name, true).map_err(|_| ChannelError::NotFound)?;
        self.registry
            .definition(&name)
            .ok_or(ChannelError::NotFound)
    }

    pub async fn create(&self, body: &Value) -> Result<Arc<Channel>, ChannelError> {
        let channel = input::new_channel(body, &store::now_rfc3339())?;
        let row = channel.clone();
        self.db
            .write(move |c| channel_rows::insert(c, &row))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => ChannelError::field("name", m),
                other => other.into(),
            })?;
        self.registry.put(channel.clone());
        tracing::info!(channel = %channel.name, "channel created");
        Ok(Arc::new(channel))
    }

    pub async fn update(&self, raw_name: &str, body: &Value) -> Result<Arc<Channel>, ChannelError> {
        let current = self.definition(raw_name)?;
        let channel = input::updated_channel(&current, body, &store::now_rfc3339())?;
        let row = channel.clone();
        self.db
            .write(move |c| channel_rows::update(c, &row))
            .await?;
        self.registry.put(channel.clone());
        Ok(Arc::new(channel))
    }

    /// Deletes a definition and the history of every concrete channel that lived under it.
    pub async fn delete(&self, raw_name: &str) -> Result<(), ChannelError> {
        let channel = self.definition(raw_name)?;
        let name = channel.name.clone();
        let prefix = channel.pattern_prefix().map(str::to_string);
        let concrete: Vec<String> = match &prefix {
            None => vec![name.clone()],
            Some(p) => {
                let p = p.clone();
                let names = self
                    .db
                    .read(move |c| messages::channels_with_history(c, Some(&p)))
                    .await?;
                names
                    .into_iter()
                    .filter(|n| self.resolve(n).is_some_and(|c| c.name == name))
                    .collect()
            }
        };
        let n = name.clone();
        self.db
            .write(move |c| {
                channel_rows::delete(c, &n)?;
                for ch in &concrete {
                    messages::delete_channel(c, ch)?;
                }
                Ok(())
            })
            .await?;
        self.registry.remove(&name);
        tracing::info!(channel = %name, "channel deleted");
        Ok(())
    }

    // ---- access ------------------------------------------------------------------------

    /// Resolves a concrete channel and room for `actor`, checking room rules and that the
    /// actor holds at least `need`.
    pub fn target(
        &self,
        actor: &Actor,
        raw_name: &str,
        raw_room: Option<&str>,
        need: Permission,
    ) -> Result<Target, ChannelError> {
        let Target { name, channel, .. } = self.any_room_target(actor, raw_name, need)?;
        let room = match (channel.channel_type, raw_room) {
            (ChannelType::SeparateRooms, Some(r)) => {
                Some(validate_room(r).map_err(|m| ChannelError::field("room", m))?)
            }
            (ChannelType::SeparateRooms, None) if need == Permission::Publish => {
                return Err(ChannelError::field(
                    "room",
                    "This field is required for channels with separate rooms.",
                ))
            }
            (ChannelType::SeparateRooms, None) => None,
            (ChannelType::Default, Some(_)) => {
                return Err(ChannelError::field(
                    "room",
                    "This field is not allowed for channels of type default.",
                ))
            }
            (ChannelType::Default, None) => None,
        };
        Ok(Target {
            name,
            room,
            channel,
        })
    }

    /// A concrete channel whose room does not matter (one stored message, by id).
    pub fn any_room_target(
        &self,
        actor: &Actor,
        raw_name: &str,
        need: Permission,
    ) -> Result<Target, ChannelError> {
        let name = validate_name(raw_name, false).map_err(|_| ChannelError::NotFound)?;
        let channel = self.resolve(&name).ok_or(ChannelError::NotFound)?;
        if self.permission_of(actor, &channel, &name) < need {
            return Err(if actor.is_anonymous() {
                ChannelError::Unauthenticated
            } else {
                ChannelError::Forbidden(access::NO_PERMISSION.into())
            });
        }
        Ok(Target {
            name,
            room: None,
            channel,
        })
    }

    /// Like [`ChannelService::target`], for subscribers: a room is required on
    /// separate-rooms channels.
    pub fn subscribe_target(
        &self,
        actor: &Actor,
        raw_name: &str,
        raw_room: Option<&str>,
    ) -> Result<Target, ChannelError> {
        let t = self.target(actor, raw_name, raw_room, Permission::Subscribe)?;
        if t.channel.channel_type == ChannelType::SeparateRooms && t.room.is_none() {
            return Err(ChannelError::field(
                "room",
                "This field is required for channels with separate rooms.",
            ));
        }
        Ok(t)
    }

    // ---- reading -------------------------------------------------------------------------

    pub async fn history(
        &self,
        target: &Target,
        cursor: Option<i64>,
        descending: bool,
        limit: i64,
    ) -> Result<Vec<Arc<Message>>, ChannelError> {
        if !target.channel.history.persist {
            return Ok(Vec::new());
        }
        if let Some(up) = self.upstream.get() {
            return up.history(target, cursor, descending, limit).await;
        }
        let (name, room) = (target.name.clone(), target.room.clone());
        Ok(self
            .db
            .read(move |c| {
                messages::history(
                    c,
                    &messages::HistoryQuery {
                        channel: &name,
                        room: room.as_deref(),
                        cursor,
                        descending,
                        limit,
                    },
                )
            })
            .await?)
    }

    pub async fn message(&self, target: &Target, id: i64) -> Result<Message, ChannelError> {
        if let Some(up) = self.upstream.get() {
            return up.message(target, id).await;
        }
        let name = target.name.clone();
        self.db
            .read(move |c| messages::get(c, &name, id))
            .await?
            .ok_or(ChannelError::NotFound)
    }

    /// The first message after `last_id`, waiting up to `timeout` for one to arrive.
    pub async fn poll(
        &self,
        target: &Target,
        last_id: i64,
        timeout: Duration,
    ) -> Result<Option<Arc<Message>>, ChannelError> {
        // Register before reading so a message committed in between is not missed.
        let waiter = self.hub.wait_next(&target.topic(), last_id);
        if let Some(m) = self.history(target, Some(last_id), false, 1).await?.pop() {
            return Ok(Some(m));
        }
        match tokio::time::timeout(timeout, waiter).await {
            Ok(Ok(m)) => Ok(Some(m)),
            _ => Ok(None),
        }
    }

    // ---- background --------------------------------------------------------------------

    /// Starts the history pruner and hub housekeeping.
    pub fn spawn_background(self: &Arc<Self>) {
        let svc = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(svc.settings.prune_interval);
            loop {
                tick.tick().await;
                svc.hub.sweep();
                if let Err(e) = svc.prune_once().await {
                    tracing::error!(error = %e, "history pruning failed");
                }
            }
        });
    }

    /// Applies every channel's history policy once; returns the rows removed.
    pub async fn prune_once(&self) -> Result<usize, StoreError> {
        let names = self
            .db
            .read(|c| messages::channels_with_history(c, None))
            .await?;
        let now = store::now_unix();
        let plan: Vec<(String, i64, Option<i64>)> = names
            .into_iter()
            .map(|n| {
                let policy = self.resolve(&n).map(|c| c.history.clone());
                match policy {
                    // Orphans (their channel was deleted) keep nothing.
                    None => (n, 0, None),
                    Some(p) if !p.persist => (n, 0, None),
                    Some(p) => (n, p.max_messages, p.max_age_seconds.map(|a| now - a)),
                }
            })
            .collect();
        // A few hundred channels per write: every publish queues behind the job running
        // on the writer, so pruning a hundred thousand rooms must not be one long job.
        let mut removed = 0;
        for chunk in plan.chunks(PRUNE_CHANNELS_PER_WRITE) {
            let chunk = chunk.to_vec();
            removed += self
                .db
                .write(move |c| {
                    let mut total = 0;
                    for (name, max, cutoff) in &chunk {
                        total += messages::prune(c, name, *max, *cutoff)?;
                    }
                    Ok(total)
                })
                .await?;
        }
        if removed > 0 {
            tracing::debug!(removed, "pruned history");
            metrics::counter!("rtbox_history_pruned_total").increment(removed as u64);
        }
        Ok(removed)
    }

    /// Closes every WebSocket with 1012 so clients reconnect to the next process.
    pub async fn shutdown(&self) {
        self.hub.close_all(crate::realtime::outbox::CLOSE_RESTART);
        // Give sessions a moment to write their close frames before HTTP stops.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.hub.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
