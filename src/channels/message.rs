//! A published message and its two wire shapes: the Syncano object (REST, history,
//! poll) and the Xano envelope frame (WebSocket).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Event,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Event => "event",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "message" => Some(Kind::Message),
            "event" => Some(Kind::Event),
            _ => None,
        }
    }
}

/// Who published: `{"admin": id}`, `{"api_key": id}`, `{"user": sub}`,
/// `{"anonymous": socket_id}`, `{"trigger": id}`, `{"visitor": id}`, `{"livechat": what}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Admin(i64),
    ApiKey(i64),
    User(String),
    Anonymous(String),
    Trigger(i64),
    /// A livechat visitor (its id).
    Visitor(String),
    /// Livechat itself: system messages and livechat triggers (`livechat:…` ids).
    Livechat(String),
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    /// Concrete channel name.
    pub channel: String,
    pub room: Option<String>,
    pub author: Author,
    pub created_at: String,
    pub payload: Box<RawValue>,
    pub kind: Kind,
    /// The sending WebSocket client `{socketId, extras, permissions}`, for live frames only.
    pub client: Option<Arc<RawValue>>,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
}

#[derive(Serialize)]
struct Metadata {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct SyncanoShape<'a> {
    id: i64,
    channel: &'a str,
    room: Option<&'a str>,
    links: Links,
    author: &'a Author,
    created_at: &'a str,
    payload: &'a RawValue,
    action: &'static str,
    metadata: Metadata,
}

#[derive(Serialize)]
struct FrameOptions<'a> {
    channel: &'a str,
    room: Option<&'a str>,
    id: i64,
    created_at: &'a str,
    author: &'a Author,
}

#[derive(Serialize)]
struct Frame<'a> {
    action: &'static str,
    options: FrameOptions<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a RawValue>,
    payload: &'a RawValue,
}

impl Message {
    fn syncano(&self, base: &str) -> SyncanoShape<'_> {
        SyncanoShape {
            id: self.id,
            channel: &self.channel,
            room: self.room.as_deref(),
            links: Links {
                this: format!("{base}/channels/{}/history/{}/", self.channel, self.id),
            },
            author: &self.author,
            created_at: &self.created_at,
            payload: &self.payload,
            action: "custom",
            metadata: Metadata {
                kind: self.kind.as_str(),
            },
        }
    }

    /// The Syncano-shaped object, links under `base` (e.g. `/api/v1`).
    pub fn to_json_string(&self, base: &str) -> String {
        serde_json::to_string(&self.syncano(base)).unwrap_or_default()
    }

    pub fn to_value(&self, base: &str) -> serde_json::Value {
        serde_json::to_value(self.syncano(base)).unwrap_or_default()
    }

    /// The WebSocket frame: `{"action": "message"|"event", "options": {...}, "client"?, "payload"}`.
    pub fn ws_frame(&self) -> String {
        serde_json::to_string(&Frame {
            action: self.kind.as_str(),
            options: FrameOptions {
                channel: &self.channel,
                room: self.room.as_deref(),
                id: self.id,
                created_at: &self.created_at,
                author: &self.author,
            },
            client: self.client.as_deref(),
            payload: &self.payload,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message {
            id: 53,
            channel: "witchers".into(),
            room: Some("secret-room".into()),
            author: Author::Admin(8),
            created_at: "2016-03-17T20:13:46.695378Z".into(),
            payload: RawValue::from_string(r#"{"message":"Hello Witchers!"}"#.into()).unwrap(),
            kind: Kind::Message,
            client: None,
        }
    }

    #[test]
    fn syncano_shape_matches_the_seed() {
        let v: serde_json::Value = serde_json::from_str(&msg().to_json_string("/api/v1")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 53, "channel": "witchers", "room": "secret-room",
                "links": {"self": "/api/v1/channels/witchers/history/53/"},
                "author": {"admin": 8}, "created_at": "2016-03-17T20:13:46.695378Z",
                "payload": {"message": "Hello Witchers!"}, "action": "custom",
                "metadata": {"type": "message"}})
        );
    }

    #[test]
    fn ws_frame_is_the_xano_envelope() {
        let v: serde_json::Value = serde_json::from_str(&msg().ws_frame()).unwrap();
        assert_eq!(v["action"], "message");
        assert_eq!(v["options"]["channel"], "witchers");
        assert_eq!(v["options"]["id"], 53);
        assert_eq!(v["payload"]["message"], "Hello Witchers!");
        assert!(v.get("client").is_none());
    }
}
