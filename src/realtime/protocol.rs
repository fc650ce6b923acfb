//! WebSocket frames (the Xano envelope `{action, options, payload}`): what clients send,
//! what the server answers, and how domain errors become `error` frames.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::channels::message::Message;
use crate::channels::ChannelError;

#[derive(Debug, Deserialize)]
pub struct ClientFrame {
    pub action: String,
    #[serde(default)]
    pub options: Option<ClientOptions>,
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ClientOptions {
    pub channel: Option<String>,
    pub room: Option<String>,
    pub last_id: Option<i64>,
    #[serde(rename = "ref")]
    pub reference: Option<Value>,
    #[serde(rename = "socketId")]
    pub socket_id: Option<String>,
    pub limit: Option<i64>,
    pub token: Option<String>,
}

/// A client text frame as the session acts on it.
#[derive(Debug)]
pub struct Decoded {
    pub action: String,
    pub options: ClientOptions,
    pub payload: Option<Box<RawValue>>,
    pub reply_to: ReplyTo,
}

/// Decodes a client text frame; `Err` is the message of the `error` frame a malformed
/// one gets (the fuzz targets drive this, the session's first step on every frame).
pub fn decode_client_frame(text: &str) -> Result<Decoded, String> {
    let frame: ClientFrame = serde_json::from_str(text).map_err(|e| {
        format!("malformed frame: {e}; expected {{\"action\", \"options\", \"payload\"}}")
    })?;
    let options = frame.options.unwrap_or_default();
    let reply_to = ReplyTo::from_options(&options);
    Ok(Decoded {
        action: frame.action,
        options,
        payload: frame.payload,
        reply_to,
    })
}

/// Error codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Rejected,
    TriggerError,
    RateLimited,
    TooLarge,
    Internal,
}

/// The one place a domain error becomes a WebSocket error code and message.
pub fn error_code(err: &ChannelError) -> ErrorCode {
    match err {
        ChannelError::NotFound => ErrorCode::NotFound,
        ChannelError::Field { .. } | ChannelError::BadRequest(_) => ErrorCode::BadRequest,
        ChannelError::Unauthenticated => ErrorCode::Unauthorized,
        ChannelError::Forbidden(_) | ChannelError::CustomPublishDisabled => ErrorCode::Forbidden,
        ChannelError::TooLarge(_) => ErrorCode::TooLarge,
        ChannelError::Rejected(_) => ErrorCode::Rejected,
        ChannelError::TriggerError(_) => ErrorCode::TriggerError,
        ChannelError::RateLimited => ErrorCode::RateLimited,
        ChannelError::Store(_) => ErrorCode::Internal,
    }
}

/// Where a reply belongs: the channel/room/ref of the frame it answers.
#[derive(Debug, Default, Clone)]
pub struct ReplyTo {
    pub channel: Option<String>,
    pub room: Option<String>,
    pub reference: Option<Value>,
}

impl ReplyTo {
    pub fn from_options(o: &ClientOptions) -> ReplyTo {
        ReplyTo {
            channel: o.channel.clone(),
            room: o.room.clone(),
            reference: o.reference.clone(),
        }
    }

    fn options(&self) -> Value {
        let mut o = serde_json::Map::new();
        if let Some(c) = &self.channel {
            o.insert("channel".into(), json!(c));
        }
        if let Some(r) = &self.room {
            o.insert("room".into(), json!(r));
        }
        if let Some(r) = &self.reference {
            o.insert("ref".into(), r.clone());
        }
        Value::Object(o)
    }
}

pub fn error_frame(to: &ReplyTo, code: ErrorCode, message: &str) -> String {
    json!({"action": "error", "options": to.options(), "payload": {"code": code, "message": message}})
        .to_string()
}

pub fn channel_error_frame(to: &ReplyTo, err: &ChannelError) -> String {
    error_frame(to, error_code(err), &err.to_string())
}

pub fn join_frame(to: &ReplyTo, socket_id: &str) -> String {
    json!({"action": "join", "options": to.options(), "payload": {"socketId": socket_id}})
        .to_string()
}

pub fn leave_frame(to: &ReplyTo) -> String {
    json!({"action": "leave", "options": to.options(), "payload": null}).to_string()
}

pub fn ack_frame(to: &ReplyTo, id: Option<i64>, persisted: bool) -> String {
    let mut options = to.options();
    options["id"] = json!(id);
    options["persisted"] = json!(persisted);
    json!({"action": "ack", "options": options, "payload": null}).to_string()
}

/// An `ack` that carries a reply payload (dialect frames such as `visitor_event`).
pub fn ack_with_payload(to: &ReplyTo, payload: Value) -> String {
    let mut options = to.options();
    options["id"] = Value::Null;
    options["persisted"] = json!(false);
    json!({"action": "ack", "options": options, "payload": payload}).to_string()
}

/// Someone joined to the channel is typing (or stopped): never stored.
pub fn typing_frame(to: &ReplyTo, typing: bool, sender: &str, u: &Value) -> String {
    json!({"action": "typing", "options": to.options(), "payload": {"typing": typing, "sender": sender, "u": u}})
        .to_string()
}

pub fn pong_frame() -> &'static str {
    r#"{"action":"pong","options":{},"payload":null}"#
}

pub fn history_frame(to: &ReplyTo, messages: &[std::sync::Arc<Message>]) -> String {
    let history: Vec<Value> = messages.iter().map(|m| m.to_value("/api/v1")).collect();
    json!({"action": "history", "options": to.options(), "payload": {"history": history}})
        .to_string()
}

pub fn presence_full_frame(to: &ReplyTo, clients: &[std::sync::Arc<RawValue>]) -> String {
    json!({"action": "presence_full", "options": to.options(), "payload": {"presence": clients}})
        .to_string()
}

pub fn presence_update_frame(to: &ReplyTo, action: &str, client: &RawValue) -> String {
    json!({"action": "presence_update", "options": to.options(), "payload": {"action": action, "presence": client}})
        .to_string()
}

/// A private message: delivered to one socket, never stored.
pub fn private_frame(to: &ReplyTo, sender: &RawValue, payload: &RawValue) -> String {
    json!({"action": "message", "options": to.options(), "client": sender, "payload": payload})
        .to_string()
}
