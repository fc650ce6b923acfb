//! What nodes send each other, over Redis and over the primary's node-to-node HTTP API.
//! Everything is JSON; payloads stay raw (never re-parsed on the way).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::jwt::ClientClaims;
use crate::auth::ApiKeyInfo;
use crate::channels::message::{Author, Kind, Message};
use crate::channels::model::Channel;
use crate::channels::{Actor, ChannelError, Profile, Staff};
use crate::store::StoreError;

/// Header carrying the cluster secret on node-to-node calls.
pub const SECRET_HEADER: &str = "x-rtbox-cluster-secret";
/// Header naming the calling node (logs).
pub const NODE_HEADER: &str = "x-rtbox-node";

/// A committed message as it travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireMessage {
    pub id: i64,
    pub channel: String,
    #[serde(default)]
    pub room: Option<String>,
    pub author: Author,
    pub created_at: String,
    pub payload: Box<RawValue>,
    pub kind: String,
    #[serde(default)]
    pub client: Option<Box<RawValue>>,
}

impl WireMessage {
    pub fn from_message(m: &Message) -> WireMessage {
        WireMessage {
            id: m.id,
            channel: m.channel.clone(),
            room: m.room.clone(),
            author: m.author.clone(),
            created_at: m.created_at.clone(),
            payload: m.payload.clone(),
            kind: m.kind.as_str().to_string(),
            client: m.client.as_ref().map(|c| (**c).to_owned()),
        }
    }

    pub fn into_message(self) -> Message {
        Message {
            id: self.id,
            channel: self.channel,
            room: self.room,
            author: self.author,
            created_at: self.created_at,
            payload: self.payload,
            kind: Kind::parse(&self.kind).unwrap_or(Kind::Message),
            client: self.client.map(Arc::from),
        }
    }
}

/// One Redis publication of committed messages, in commit order.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageBatch {
    /// The publishing node (the primary).
    pub node: String,
    /// Unix milliseconds at publication, for the Redis-lag gauge.
    pub sent_ms: i64,
    pub messages: Vec<WireMessage>,
}

/// Control traffic every node listens to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// A presence update for a topic's local subscribers, from the node of the client.
    Presence {
        node: String,
        topic: String,
        frame: String,
    },
    /// Definitions (channels, keys, triggers, client secret) changed on the primary.
    Definitions { node: String },
}

/// A frame for one subscriber, sent to the node that holds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Direct {
    pub topic: String,
    pub socket_id: String,
    pub frame: String,
}

/// One presence record in Redis (hash field = socket id).
#[derive(Debug, Serialize, Deserialize)]
pub struct PresenceEntry {
    pub node: String,
    /// Unix milliseconds of the join, for join order across nodes.
    pub joined_ms: i64,
    pub client: Box<RawValue>,
}

/// An actor as an edge vouches for it to the primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireActor {
    Admin {
        author: Author,
    },
    PublishKey {
        id: i64,
    },
    Member {
        author: Author,
        #[serde(default)]
        claims: Option<ClientClaims>,
        #[serde(default)]
        staff: Option<Staff>,
        #[serde(default)]
        profile: Option<Profile>,
    },
    Visitor {
        profile: Profile,
    },
    Anonymous {
        socket_id: String,
    },
}

impl From<&Actor> for WireActor {
    fn from(a: &Actor) -> WireActor {
        match a {
            Actor::Admin(author) => WireActor::Admin {
                author: author.clone(),
            },
            Actor::PublishKey(id) => WireActor::PublishKey { id: *id },
            Actor::Member {
                author,
                claims,
                staff,
                profile,
            } => WireActor::Member {
                author: author.clone(),
                claims: claims.as_deref().cloned(),
                staff: *staff,
                profile: profile.as_deref().cloned(),
            },
            Actor::Visitor(profile) => WireActor::Visitor {
                profile: (**profile).clone(),
            },
            Actor::Anonymous(s) => WireActor::Anonymous {
                socket_id: s.clone(),
            },
        }
    }
}

impl From<WireActor> for Actor {
    fn from(a: WireActor) -> Actor {
        match a {
            WireActor::Admin { author } => Actor::Admin(author),
            WireActor::PublishKey { id } => Actor::PublishKey(id),
            WireActor::Member {
                author,
                claims,
                staff,
                profile,
            } => Actor::Member {
                author,
                claims: claims.map(Arc::new),
                staff,
                profile: profile.map(Arc::new),
            },
            WireActor::Visitor { profile } => Actor::Visitor(Arc::new(profile)),
            WireActor::Anonymous { socket_id } => Actor::Anonymous(socket_id),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PublishCall {
    pub channel: String,
    #[serde(default)]
    pub room: Option<String>,
    pub payload: Box<RawValue>,
    pub kind: String,
    /// `None`: a server-side publish by `author`.
    #[serde(default)]
    pub actor: Option<WireActor>,
    #[serde(default)]
    pub author: Option<Author>,
    #[serde(default)]
    pub socket_id: String,
    #[serde(default)]
    pub client: Option<Box<RawValue>>,
    /// A publish a dialect router validated (`Origin::Dialect`): no `custom_publish` check.
    #[serde(default)]
    pub dialect: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PublishReply {
    pub message: WireMessage,
    pub persisted: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HistoryCall {
    pub channel: String,
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub cursor: Option<i64>,
    #[serde(default)]
    pub descending: bool,
    pub limit: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MessageCall {
    pub channel: String,
    pub id: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MembershipCall {
    pub channel: String,
    #[serde(default)]
    pub room: Option<String>,
    pub actor: WireActor,
    pub socket_id: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

impl MembershipCall {
    pub fn new(
        target: &crate::channels::Target,
        actor: &Actor,
        socket_id: &str,
        payload: serde_json::Value,
    ) -> MembershipCall {
        MembershipCall {
            channel: target.name.clone(),
            room: target.room.clone(),
            actor: actor.into(),
            socket_id: socket_id.to_string(),
            payload,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SessionCall {
    pub token_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SessionReply {
    pub user: Option<crate::auth::User>,
}

/// A livechat visitor token seen on an edge's `/ws`.
#[derive(Debug, Serialize, Deserialize)]
pub struct VisitorCall {
    pub token: String,
}

/// The visitor behind a token, or why there is none (the `unauthorized` message).
#[derive(Debug, Serialize, Deserialize)]
pub struct VisitorReply {
    #[serde(default)]
    pub visitor: Option<Profile>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A dialect frame (`visitor_event`, `livechat_message`) a client sent to an edge.
#[derive(Debug, Serialize, Deserialize)]
pub struct FrameCall {
    pub actor: WireActor,
    pub action: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// How the primary answered a dialect frame.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FrameReply {
    /// The `ack` payload.
    Ok { ack: serde_json::Value },
    /// The `error` frame's code and message.
    Error {
        code: crate::realtime::protocol::ErrorCode,
        message: String,
    },
    /// The primary has no such frame action.
    Unknown,
}

/// Who may use one livechat room (`livechat/{rid}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomCall {
    pub rid: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoomReply {
    /// `None`: no such room.
    #[serde(default)]
    pub visitor_id: Option<String>,
    #[serde(default)]
    pub agents: Vec<i64>,
}

/// An edge's agents with an inbox open there: agent id → sockets on its own feed. Sent
/// whole on every change and as a heartbeat, so a lost report or a dead edge heals.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboxReport {
    pub agents: std::collections::HashMap<i64, u32>,
}

/// A trigger's reach, enough for an edge to know whether a round trip is needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerReach {
    pub channel: String,
    pub message: bool,
    pub join: bool,
    pub leave: bool,
}

/// What an edge follows from the primary.
#[derive(Debug, Serialize, Deserialize)]
pub struct Definitions {
    pub channels: Vec<Channel>,
    /// `(key hash, key)`.
    pub keys: Vec<(String, ApiKeyInfo)>,
    pub client_secret: String,
    pub triggers: Vec<TriggerReach>,
}

/// A channel-layer error, carried from the primary to the edge that asked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum WireError {
    NotFound,
    Field { field: String, reason: String },
    BadRequest { message: String },
    Unauthenticated,
    Forbidden { message: String },
    CustomPublishDisabled,
    TooLarge { limit: usize },
    Rejected { reason: String },
    TriggerError { message: String },
    RateLimited,
    Internal { message: String },
}

impl From<&ChannelError> for WireError {
    fn from(e: &ChannelError) -> WireError {
        match e {
            ChannelError::NotFound => WireError::NotFound,
            ChannelError::Field { field, reason } => WireError::Field {
                field: field.clone(),
                reason: reason.clone(),
            },
            ChannelError::BadRequest(m) => WireError::BadRequest { message: m.clone() },
            ChannelError::Unauthenticated => WireError::Unauthenticated,
            ChannelError::Forbidden(m) => WireError::Forbidden { message: m.clone() },
            ChannelError::CustomPublishDisabled => WireError::CustomPublishDisabled,
            ChannelError::TooLarge(n) => WireError::TooLarge { limit: *n },
            ChannelError::Rejected(r) => WireError::Rejected { reason: r.clone() },
            ChannelError::TriggerError(m) => WireError::TriggerError { message: m.clone() },
            ChannelError::RateLimited => WireError::RateLimited,
            ChannelError::Store(e) => WireError::Internal {
                message: e.to_string(),
            },
        }
    }
}

impl From<WireError> for ChannelError {
    fn from(e: WireError) -> ChannelError {
        match e {
            WireError::NotFound => ChannelError::NotFound,
            WireError::Field { field, reason } => ChannelError::Field { field, reason },
            WireError::BadRequest { message } => ChannelError::BadRequest(message),
            WireError::Unauthenticated => ChannelError::Unauthenticated,
            WireError::Forbidden { message } => ChannelError::Forbidden(message),
            WireError::CustomPublishDisabled => ChannelError::CustomPublishDisabled,
            WireError::TooLarge { limit } => ChannelError::TooLarge(limit),
            WireError::Rejected { reason } => ChannelError::Rejected(reason),
            WireError::TriggerError { message } => ChannelError::TriggerError(message),
            WireError::RateLimited => ChannelError::RateLimited,
            WireError::Internal { message } => {
                ChannelError::Store(StoreError::Other(format!("on the primary: {message}")))
            }
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips() {
        let m = Message {
            id: 7,
            channel: "c".into(),
            room: Some("r".into()),
            author: Author::User("u1".into()),
            created_at: "t".into(),
            payload: RawValue::from_string(r#"{"a":1}"#.into()).unwrap(),
            kind: Kind::Event,
            client: Some(Arc::from(
                RawValue::from_string(r#"{"socketId":"s"}"#.into()).unwrap(),
            )),
        };
        let text = serde_json::to_string(&WireMessage::from_message(&m)).unwrap();
        let back = serde_json::from_str::<WireMessage>(&text)
            .unwrap()
            .into_message();
        assert_eq!(back.ws_frame(), m.ws_frame());
        assert_eq!(back.to_json_string("/api/v1"), m.to_json_string("/api/v1"));
    }

    #[test]
    fn errors_round_trip() {
        let e = ChannelError::Rejected("no".into());
        let w: WireError = (&e).into();
        let text = serde_json::to_string(&w).unwrap();
        let back: ChannelError = serde_json::from_str::<WireError>(&text).unwrap().into();
        assert!(matches!(back, ChannelError::Rejected(r) if r == "no"));
    }
}
