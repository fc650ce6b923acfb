//! Livechat: visitors and their visits, rooms and the queue, routing to agents, livechat
//! triggers (evaluated on visitor events and timers), the external-service client, and
//! mail (offline messages, transcripts). A room is the channel `livechat/{rid}`: every
//! message goes through `ChannelService::publish`, so delivery, history and replay are
//! the channels' own. Knows nothing of HTTP; `api::livechat` maps its errors.

pub mod external;
pub mod ids;
pub mod mail;
pub mod membership;
pub mod model;
pub mod rooms;
pub mod routing;
pub mod settings;
pub mod triggers;
pub mod visitors;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};

use crate::channels::message::{Author, Kind};
use crate::channels::{ChannelError, ChannelService, Origin, PublishRequest};
use crate::config::Settings;
use crate::store::StoreError;
use crate::store::{users, Db};
use crate::triggers::outbound::{HttpClient, OutboundPolicy};
use membership::RoomIndex;
use settings::LivechatSettings;

/// Channels livechat owns; created at start when missing.
pub const ROOM_PREFIX: &str = "livechat/";
pub const VISITOR_FEED_PREFIX: &str = "livechat-visitor/";
pub const AGENT_FEED_PREFIX: &str = "livechat-agent/";
pub const QUEUE_FEED: &str = "livechat-queue";
pub const ROOMS_FEED: &str = "livechat-rooms";

pub fn room_channel(rid: &str) -> String {
    format!("{ROOM_PREFIX}{rid}")
}

#[derive(Debug, thiserror::Error)]
pub enum LivechatError {
    /// A request that does not match the schema: `"… [invalid-params]"`.
    #[error("{0} [invalid-params]")]
    InvalidParams(String),
    /// A plain Rocket.Chat failure: `{"error": "invalid-token"}`.
    #[error("{0}")]
    Failure(&'static str),
    /// A Rocket.Chat failure with a reason: `{"error": "Reason [code]", "errorType": code}`.
    #[error("{reason} [{code}]")]
    Coded { code: &'static str, reason: String },
    #[error("You must be logged in to do this.")]
    Unauthenticated,
    #[error("User does not have the permissions required for this action [error-unauthorized]")]
    NoPermission,
    /// Logged in with the right role, but not this room.
    #[error("unauthorized")]
    NotYours,
    #[error("Error, too many requests. Please slow down. You must wait {wait_secs} seconds before trying this endpoint again. [error-too-many-requests]")]
    RateLimited {
        wait_secs: u64,
        limit: u32,
        reset_ms: i64,
    },
    /// The external-service call failed: the whole Rocket.Chat body.
    #[error("external service failed")]
    ExternalService(Value),
    #[error("Not found")]
    NotFound,
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl LivechatError {
    pub fn invalid(msg: impl Into<String>) -> LivechatError {
        LivechatError::InvalidParams(msg.into())
    }
    pub fn coded(code: &'static str, reason: impl Into<String>) -> LivechatError {
        LivechatError::Coded {
            code,
            reason: reason.into(),
        }
    }
}

impl From<ChannelError> for LivechatError {
    fn from(e: ChannelError) -> LivechatError {
        match e {
            ChannelError::Store(s) => LivechatError::Store(s),
            ChannelError::Unauthenticated | ChannelError::Forbidden(_) => LivechatError::NotYours,
            ChannelError::TooLarge(n) => {
                LivechatError::TooLarge(format!("Payload is larger than {n} bytes."))
            }
            ChannelError::Rejected(reason) => LivechatError::coded("error-rejected", reason),
            ChannelError::TriggerError(m) => LivechatError::coded("error-trigger", m),
            ChannelError::RateLimited => LivechatError::RateLimited {
                wait_secs: 1,
                limit: 0,
                reset_ms: now_ms() + 1000,
            },
            other => LivechatError::Internal(other.to_string()),
        }
    }
}

pub type LivechatResult<T> = Result<T, LivechatError>;

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// ISO 8601 with milliseconds, as Rocket.Chat dates look.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    iso(now_ms())
}

/// Parses a client-sent date into our ISO form (for `ls`/`end` and room filters).
pub fn parse_date(s: &str) -> Option<String> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(iso(d.timestamp_millis()));
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Some(iso(ms));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| iso(d.and_utc().timestamp_millis()))
}

/// A dashboard user as livechat shows it.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub id: i64,
    pub username: String,
    pub name: String,
}

impl AgentInfo {
    pub fn short(&self) -> Value {
        json!({"_id": self.id.to_string(), "username": self.username, "name": self.name})
    }
}

/// What is known about a visitor between its events (for triggers and timers).
#[derive(Default)]
pub struct VisitorLive {
    pub timers: Vec<tokio::task::AbortHandle>,
    /// The raw token, when this process has seen it (the store keeps only its hash);
    /// external services get it as `visitorToken`.
    pub token: Option<String>,
}

/// Visitors whose raw token is kept in memory at most.
const MAX_LIVE_TOKENS: usize = 100_000;

pub struct LivechatService {
    db: Db,
    channels: Arc<ChannelService>,
    app: Arc<Settings>,
    pub settings: LivechatSettings,
    index: Arc<RoomIndex>,
    /// Routing decisions (who gets which chat) are made one at a time.
    routing: tokio::sync::Mutex<()>,
    triggers: RwLock<Arc<Vec<triggers::Compiled>>>,
    live: Mutex<HashMap<String, VisitorLive>>,
    http: Arc<HttpClient>,
    pub limits: settings::Limits,
    /// Per agent: (sockets subscribed to its own feed, change counter).
    agent_conns: Mutex<HashMap<i64, (usize, u64)>>,
}

impl LivechatService {
    /// Loads settings, triggers and the room index, and installs livechat's channels
    /// (membership rules, their settings) and session frames on the channel service.
    pub async fn start(
        db: Db,
        channels: Arc<ChannelService>,
        app: Arc<Settings>,
    ) -> Result<Arc<LivechatService>, StoreError> {
        let settings = LivechatSettings::load(&db).await?;
        let index = Arc::new(RoomIndex::load(&db).await?);
        let trigger_rows = db.read(crate::store::livechat::triggers).await?;
        let compiled = trigger_rows
            .into_iter()
            .filter_map(|row| triggers::Compiled::from_row(row).ok())
            .collect();
        let limits = settings::Limits::new(&settings);
        let svc = Arc::new(LivechatService {
            http: Arc::new(HttpClient::new(OutboundPolicy::from_settings(&app))),
            db,
            channels: channels.clone(),
            app,
            settings,
            index: index.clone(),
            routing: tokio::sync::Mutex::new(()),
            triggers: RwLock::new(Arc::new(compiled)),
            live: Mutex::new(HashMap::new()),
            limits,
            agent_conns: Mutex::new(HashMap::new()),
        });
        channels.install_membership(index);
        channels.install_session_dialect(Arc::new(visitors::Frames(Arc::downgrade(&svc))));
        Ok(svc)
    }

    /// Who may use room `rid` (its visitor, the agents that served it), for edges.
    pub fn room_access(&self, rid: &str) -> Option<(String, Vec<i64>)> {
        self.index.access(rid)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn channels(&self) -> &Arc<ChannelService> {
        &self.channels
    }

    pub fn app_settings(&self) -> &Settings {
        &self.app
    }

    pub async fn agent_info(&self, id: i64) -> LivechatResult<Option<AgentInfo>> {
        let user = self.db.read(move |c| users::get(c, id)).await?;
        Ok(user.map(|u| AgentInfo {
            id: u.id,
            username: u.email,
            name: u.name,
        }))
    }

    /// Publishes a livechat event (`{type, …}`) on one of livechat's feeds.
    pub async fn announce(&self, channel: String, payload: Value) {
        let raw = match serde_json::value::to_raw_value(&payload) {
            Ok(raw) => raw,
            Err(_) => return,
        };
        let result = self
            .channels
            .publish(PublishRequest {
                channel: channel.clone(),
                room: None,
                payload: raw,
                kind: Kind::Event,
                origin: Origin::Server(Author::Livechat("events".into())),
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(%channel, error = %e, "livechat event not published");
        }
    }

    /// Periodic housekeeping: forget idle rate-limit keys and finished timers.
    pub fn housekeeping(&self) {
        self.limits.forget_idle();
        let mut live = self.live.lock();
        let keep_tokens = live.len() <= MAX_LIVE_TOKENS;
        live.retain(|_, l| {
            l.timers.retain(|t| !t.is_finished());
            !l.timers.is_empty() || (keep_tokens && l.token.is_some())
        });
    }

    /// Open chats and the queue, for `/api/v1/stats`.
    pub async fn stats(&self) -> LivechatResult<Value> {
        let counts = self
            .db
            .read(crate::store::livechat::count_rooms_by_status)
            .await?;
        let get = |s: &str| {
            counts
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        Ok(
            json!({"queued": get("queued"), "open": get("open"), "pending": get("pending"), "closed": get("closed")}),
        )
    }
}
