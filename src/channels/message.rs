//! A published message and its two wire shapes: the Syncano object (REST, history,
//! poll) and the Xano envelope frame (WebSocket).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Checks that a payload kept as raw bytes reads back as JSON wherever it is parsed
/// (history objects, triggers, clients). `RawValue` keeps the bytes without decoding them,
/// so it lets through a `\u` escape of a lone UTF-16 surrogate (`"\udc00"`) and numbers
/// past `f64` (`1e999`), which a parser then refuses — history showed such a message as
/// `null`. This walks the value once without building it; `Err` says why.
pub fn check_payload(raw: &RawValue) -> Result<(), String> {
    serde_json::from_str::<Readable>(raw.get())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Any JSON value, decoded (escapes, numbers) but not kept.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Readable, D::Error> {
        d.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> serde::de::Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_entry::<Readable, Readable>()?.is_some() {}
        Ok(Readable)
    }
}

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
    fn payloads_that_do_not_read_back_are_refused() {
        let check = |t: &str| check_payload(&RawValue::from_string(t.into()).unwrap());
        for good in [
            r#"{"a":[1,-2,3.5,1e308,1e-999,"x\"y",true,null,{}]}"#,
            r#""\ud83d\ude00""#,
            r#"123456789012345678901234567890"#,
            r#""\\udc00""#,
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
            assert!(serde_json::from_str::<serde_json::Value>(good).is_ok());
        }
        for bad in [
            r#""\udc00""#,
            r#"{"k":"a\udbddb"}"#,
            "1e999",
            "[-1e999]",
            r#"{"\ud800":1}"#,
        ] {
            assert!(check(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<serde_json::Value>(bad).is_err());
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
