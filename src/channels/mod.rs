//! Channels: the registry of channel settings, the publish pipeline
//! (permission → triggers → writer → hub), history, long-poll and the history pruner.
//! Knows nothing of HTTP or WebSocket framing.

pub mod access;
pub mod input;
pub mod message;
pub mod model;
mod publish;
pub mod registry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

use crate::config::Settings;
use crate::error::StoreError;
use crate::realtime::{topic_key, Hub};
use crate::store::{self, channels as channel_rows, messages, Db};
use crate::triggers::TriggerService;
pub use access::{Actor, Membership, Profile, Staff};
use message::Message;
use model::{validate_name, validate_room, Channel, ChannelType, Permission};
pub use publish::{Origin, PublishRequest, Published};
use registry::Registry;

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
    /// Ids of channels whose history is not persisted (no SQLite on their path).
    memory_ids: Mutex<HashMap<String, i64>>,
    /// Who belongs to dialect-owned channels (livechat), installed once at start.
    membership: std::sync::OnceLock<Arc<dyn Membership>>,
    /// What a dialect adds to WebSocket sessions (visitor auth and events).
    session_dialect: std::sync::OnceLock<Arc<dyn crate::realtime::SessionDialect>>,
}

pub const API_BASE: &str = "/api/v1";

impl ChannelService {
    pub async fn start(
        db: Db,
        settings: Arc<Settings>,
        triggers: Arc<TriggerService>,
    ) -> Result<Arc<ChannelService>, StoreError> {
        let channels = db.read(channel_rows::all).await?;
        Ok(Arc::new(ChannelService {
            db,
            settings,
            triggers,
            registry: Registry::load(channels),
            hub: Arc::new(Hub::new()),
            memory_ids: Mutex::new(HashMap::new()),
            membership: std::sync::OnceLock::new(),
            session_dialect: std::sync::OnceLock::new(),
        }))
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
                ChannelError::Forbidden(crate::error::NO_PERMISSION.into())
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
        if plan.is_empty() {
            return Ok(0);
        }
        let removed = self
            .db
            .write(move |c| {
                let mut total = 0;
                for (name, max, cutoff) in &plan {
                    total += messages::prune(c, name, *max, *cutoff)?;
                }
                Ok(total)
            })
            .await?;
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
