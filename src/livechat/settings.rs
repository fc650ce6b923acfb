//! Livechat settings (Rocket.Chat ids: `Livechat_Routing_Method`, `Livechat_title`, SMTP,
//! …): their types and defaults, an in-memory copy, and the visitor rate limits they set.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use parking_lot::RwLock;
use serde_json::{json, Value};

use super::{now_ms, LivechatError, LivechatResult};
use crate::error::StoreError;
use crate::store::{livechat as rows, Db};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Bool,
    Int,
    Text,
    OneOf(&'static [&'static str]),
}

pub struct Def {
    pub id: &'static str,
    pub kind: Kind,
    pub default: fn() -> Value,
    /// Shown and set through `livechat/appearance`.
    pub appearance: bool,
    /// Never read back (passwords).
    pub secret: bool,
}

macro_rules! def {
    ($id:expr, $kind:expr, $default:expr, $appearance:expr) => {
        Def {
            id: $id,
            kind: $kind,
            default: || json!($default),
            appearance: $appearance,
            secret: false,
        }
    };
}

pub const ROUTING_METHOD: &str = "Livechat_Routing_Method";
pub const SECRET_TOKEN: &str = "Livechat_secret_token";

pub static DEFS: &[Def] = &[
    def!(
        ROUTING_METHOD,
        Kind::OneOf(&["Auto_Selection", "Manual_Selection"]),
        "Auto_Selection",
        false
    ),
    def!("Livechat_enabled", Kind::Bool, true, false),
    def!("Livechat_title", Kind::Text, "Live chat", true),
    def!("Livechat_title_color", Kind::Text, "#C1272D", true),
    def!(
        "Livechat_widget_position",
        Kind::OneOf(&["right", "left"]),
        "right",
        true
    ),
    def!("Livechat_background", Kind::Text, "", true),
    def!(
        "Livechat_enable_message_character_limit",
        Kind::Bool,
        true,
        true
    ),
    def!("Livechat_message_character_limit", Kind::Int, 2000, true),
    def!("Livechat_show_agent_info", Kind::Bool, true, true),
    def!("Livechat_show_agent_email", Kind::Bool, false, true),
    def!("Livechat_display_offline_form", Kind::Bool, true, true),
    def!(
        "Livechat_offline_form_unavailable",
        Kind::Text,
        "Sorry, we cannot take messages right now.",
        true
    ),
    def!(
        "Livechat_offline_message",
        Kind::Text,
        "We are not online right now. Leave a message and we will get back to you.",
        true
    ),
    def!(
        "Livechat_offline_success_message",
        Kind::Text,
        "Thanks! We got your message and will answer by email.",
        true
    ),
    def!(
        "Livechat_offline_title",
        Kind::Text,
        "Leave a message",
        true
    ),
    def!("Livechat_offline_title_color", Kind::Text, "#666666", true),
    def!("Livechat_offline_email", Kind::Text, "", true),
    def!("Livechat_registration_form", Kind::Bool, true, true),
    def!(
        "Livechat_name_field_registration_form",
        Kind::Bool,
        true,
        true
    ),
    def!(
        "Livechat_email_field_registration_form",
        Kind::Bool,
        true,
        true
    ),
    def!(
        "Livechat_registration_form_message",
        Kind::Text,
        "Tell us who you are to start the chat.",
        true
    ),
    def!(
        "Livechat_conversation_finished_message",
        Kind::Text,
        "Conversation finished",
        true
    ),
    def!(
        "Livechat_conversation_finished_text",
        Kind::Text,
        "Thanks for chatting with us.",
        true
    ),
    def!("Livechat_enable_transcript", Kind::Bool, false, true),
    def!(
        "Livechat_transcript_message",
        Kind::Text,
        "Would you like a copy of this chat by email?",
        true
    ),
    def!("Livechat_hide_watermark", Kind::Bool, false, true),
    def!(SECRET_TOKEN, Kind::Text, "", false),
    def!("Livechat_visit_timeout_seconds", Kind::Int, 1800, false),
    def!(
        "Livechat_agent_offline_after_disconnect_seconds",
        Kind::Int,
        60,
        false
    ),
    def!(
        "Livechat_rate_limit_token_per_minute",
        Kind::Int,
        120,
        false
    ),
    def!("Livechat_rate_limit_ip_per_minute", Kind::Int, 1200, false),
    def!("Livechat_rate_limit_user_per_minute", Kind::Int, 600, false),
    def!("SMTP_Host", Kind::Text, "", false),
    def!("SMTP_Port", Kind::Int, 25, false),
    def!("SMTP_Username", Kind::Text, "", false),
    Def {
        id: "SMTP_Password",
        kind: Kind::Text,
        default: || json!(""),
        appearance: false,
        secret: true,
    },
    def!(
        "SMTP_Security",
        Kind::OneOf(&["none", "starttls", "tls"]),
        "none",
        false
    ),
    def!("From_Email", Kind::Text, "rtbox@localhost", false),
];

pub fn def(id: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.id == id)
}

/// Checks and coerces a value for a setting (Rocket.Chat accepts `"true"` for a bool).
pub fn coerce(def: &Def, value: &Value) -> LivechatResult<Value> {
    let bad = |what: &str| LivechatError::invalid(format!("must be {what}"));
    match def.kind {
        Kind::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s == "true" || s == "false" => Ok(json!(s == "true")),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(json!(n.as_i64() == Some(1)))
            }
            _ => Err(bad("boolean")),
        },
        Kind::Int => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (0..=1_000_000_000).contains(&n) => Ok(json!(n)),
                _ => Err(bad("integer")),
            }
        }
        Kind::Text => match value {
            Value::String(s) if s.chars().count() <= 4096 => Ok(value.clone()),
            Value::String(_) => Err(LivechatError::invalid(
                "must NOT have more than 4096 characters",
            )),
            Value::Number(n) => Ok(json!(n.to_string())),
            Value::Bool(b) => Ok(json!(b.to_string())),
            _ => Err(bad("string")),
        },
        Kind::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => Ok(value.clone()),
            _ => Err(LivechatError::invalid(
                "must be equal to one of the allowed values",
            )),
        },
    }
}

/// The current value of every setting, stored values over defaults.
pub struct LivechatSettings {
    values: RwLock<HashMap<&'static str, Value>>,
    db: Db,
}

impl LivechatSettings {
    pub async fn load(db: &Db) -> Result<LivechatSettings, StoreError> {
        let mut stored = db.read(rows::settings).await?;
        if !stored.iter().any(|(k, _)| k == SECRET_TOKEN) {
            let token = crate::auth::secrets::generate("lct_");
            let v = json!(token);
            let v2 = v.clone();
            db.write(move |c| rows::set_setting(c, SECRET_TOKEN, &v2))
                .await?;
            stored.push((SECRET_TOKEN.to_string(), v));
        }
        let mut values: HashMap<&'static str, Value> =
            DEFS.iter().map(|d| (d.id, (d.default)())).collect();
        for (k, v) in stored {
            if let Some(d) = def(&k) {
                values.insert(d.id, v);
            }
        }
        Ok(LivechatSettings {
            values: RwLock::new(values),
            db: db.clone(),
        })
    }

    pub fn get(&self, id: &str) -> Value {
        self.values.read().get(id).cloned().unwrap_or(Value::Null)
    }

    pub fn text(&self, id: &str) -> String {
        self.get(id).as_str().unwrap_or_default().to_string()
    }

    pub fn flag(&self, id: &str) -> bool {
        self.get(id).as_bool().unwrap_or(false)
    }

    pub fn int(&self, id: &str) -> i64 {
        self.get(id).as_i64().unwrap_or(0)
    }

    pub fn manual_routing(&self) -> bool {
        self.text(ROUTING_METHOD) == "Manual_Selection"
    }

    /// A visit ends after this long without events (default 30 minutes).
    pub fn visit_gap_ms(&self) -> i64 {
        self.int("Livechat_visit_timeout_seconds").max(1) * 1000
    }

    /// The message length limit, when enabled.
    pub fn message_limit(&self) -> Option<usize> {
        self.flag("Livechat_enable_message_character_limit")
            .then(|| self.int("Livechat_message_character_limit").max(1) as usize)
    }

    /// Validates and stores several settings at once (all or nothing).
    pub async fn set_many(&self, changes: Vec<(&'static Def, Value)>) -> LivechatResult<()> {
        let mut coerced = Vec::with_capacity(changes.len());
        for (d, v) in changes {
            coerced.push((d.id, coerce(d, &v)?));
        }
        let to_store = coerced.clone();
        self.db
            .write(move |c| {
                for (k, v) in &to_store {
                    rows::set_setting(c, k, v)?;
                }
                Ok(())
            })
            .await?;
        let mut values = self.values.write();
        for (k, v) in coerced {
            values.insert(k, v);
        }
        Ok(())
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Per-token, per-IP and per-user limits of the livechat endpoints; rebuilt when their
/// settings change.
pub struct Limits {
    inner: RwLock<LimitSet>,
}

struct LimitSet {
    token: (u32, Keyed),
    ip: (u32, Keyed),
    user: (u32, Keyed),
    /// The external-service call endpoint: 10 per minute per visitor (Rocket.Chat).
    service_call: (u32, Keyed),
}

fn keyed(per_minute: u32) -> (u32, Keyed) {
    let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    (
        n.get(),
        RateLimiter::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>(),
    )
}

/// What a passed check tells the client in `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub limit: u32,
    pub remaining: u32,
    pub reset_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Token,
    Ip,
    User,
    ServiceCall,
}

impl Limits {
    pub fn new(settings: &LivechatSettings) -> Limits {
        Limits {
            inner: RwLock::new(Self::build(settings)),
        }
    }

    fn build(settings: &LivechatSettings) -> LimitSet {
        let per = |id: &str| settings.int(id).clamp(1, u32::MAX as i64) as u32;
        LimitSet {
            token: keyed(per("Livechat_rate_limit_token_per_minute")),
            ip: keyed(per("Livechat_rate_limit_ip_per_minute")),
            user: keyed(per("Livechat_rate_limit_user_per_minute")),
            service_call: keyed(10),
        }
    }

    pub fn rebuild(&self, settings: &LivechatSettings) {
        *self.inner.write() = Self::build(settings);
    }

    /// Counts one request for `key`; `Err(RateLimited)` past the limit.
    pub fn check(&self, scope: Scope, key: &str) -> LivechatResult<Quotas> {
        let inner = self.inner.read();
        let (limit, limiter) = match scope {
            Scope::Token => &inner.token,
            Scope::Ip => &inner.ip,
            Scope::User => &inner.user,
            Scope::ServiceCall => &inner.service_call,
        };
        let window_ms = 60_000i64;
        match limiter.check_key(&key.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill_ms = window_ms / i64::from(*limit).max(1);
                let missing = i64::from(limit.saturating_sub(remaining));
                Ok(Quotas {
                    limit: *limit,
                    remaining,
                    reset_ms: now_ms() + missing * refill_ms,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let wait_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(LivechatError::RateLimited {
                    wait_secs,
                    limit: *limit,
                    reset_ms: now_ms() + wait.as_millis() as i64,
                })
            }
        }
    }

    pub fn forget_idle(&self) {
        let inner = self.inner.read();
        inner.token.1.retain_recent();
        inner.ip.1.retain_recent();
        inner.user.1.retain_recent();
        inner.service_call.1.retain_recent();
    }
}
