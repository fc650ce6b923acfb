//! The Rocket.Chat JSON shapes of livechat objects: visitor, room, inquiry, message,
//! agent. Visitor tokens appear only in what is answered to that visitor.

use serde_json::{json, Value};

use super::AgentInfo;
use crate::store::livechat::{InquiryRow, RoomRow, VisitorRow};

pub fn visitor_name(v: &VisitorRow) -> String {
    v.name.clone().unwrap_or_else(|| v.username.clone())
}

pub fn visitor_json(v: &VisitorRow, token: Option<&str>, last_room: Option<&RoomRow>) -> Value {
    let mut out = json!({
        "_id": v.id,
        "username": v.username,
        "name": v.name,
        "visitorEmails": v.email.as_ref().map(|e| vec![json!({"address": e})]).unwrap_or_default(),
        "phone": v.phone.as_ref().map(|p| vec![json!({"phoneNumber": p})]).unwrap_or_default(),
        "department": v.department,
        "livechatData": v.custom_fields,
        "status": "online",
        "ts": v.created_at,
        "_updatedAt": v.updated_at,
    });
    if let Some(t) = token {
        out["token"] = json!(t);
    }
    if let Some(r) = last_room {
        out["lastChat"] = json!({"_id": r.id, "ts": r.created_at});
    }
    out
}

pub fn room_json(
    r: &RoomRow,
    v: &VisitorRow,
    agent: Option<&AgentInfo>,
    token: Option<&str>,
) -> Value {
    let mut visitor = json!({
        "_id": v.id,
        "username": v.username,
        "name": visitor_name(v),
        "status": "online",
    });
    if let Some(t) = token {
        visitor["token"] = json!(t);
    }
    let mut out = json!({
        "_id": r.id,
        "t": "l",
        "fname": visitor_name(v),
        "channel": super::room_channel(&r.id),
        "status": r.status,
        "open": r.status != "closed",
        "v": visitor,
        "msgs": r.msgs,
        "ts": r.created_at,
        "lm": r.last_message_at,
        "_updatedAt": r.updated_at,
        "waitingResponse": r.waiting_response,
        "source": {"type": r.source},
        "closedAt": r.closed_at,
        "closer": r.closer,
        "closedBy": r.closed_by,
        "closingMessage": r.close_comment.as_ref().map(|c| json!({"msg": c})),
    });
    if let Some(a) = agent {
        out["servedBy"] = json!({
            "_id": a.id.to_string(), "username": a.username, "name": a.name,
            "ts": r.served_at,
        });
    }
    out
}

pub fn inquiry_json(q: &InquiryRow, v: &VisitorRow) -> Value {
    json!({
        "_id": q.id,
        "rid": q.room_id,
        "name": visitor_name(v),
        "message": q.message,
        "status": q.status,
        "ts": q.queued_at,
        "queuedAt": q.queued_at,
        "takenAt": q.taken_at,
        "agentId": q.agent_id.map(|a| a.to_string()),
        "t": "l",
        "v": {"_id": v.id, "username": v.username, "name": visitor_name(v), "status": "online"},
        "_updatedAt": q.updated_at,
    })
}

/// Who a message is from: `sender` plus the `u` Rocket.Chat shows.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub sender: &'static str,
    pub u: Value,
}

/// The payload of a room message (what the channel stores and delivers).
pub fn message_payload(
    id: &str,
    rid: &str,
    msg: &str,
    ts: &str,
    speaker: &Speaker,
    t: Option<&str>,
    trigger: Option<Value>,
) -> Value {
    json!({
        "_id": id,
        "rid": rid,
        "msg": msg,
        "ts": ts,
        "u": speaker.u,
        "sender": speaker.sender,
        "t": t,
        "alias": Value::Null,
        "trigger": trigger,
    })
}

/// An agent or manager as `livechat/users/*` lists them.
pub fn staff_json(u: &crate::store::users::User, livechat_status: &str, open_chats: i64) -> Value {
    json!({
        "_id": u.id.to_string(),
        "username": u.email,
        "name": u.name,
        "emails": [{"address": u.email, "verified": true}],
        "roles": u.roles,
        "status": if livechat_status == "offline" { "offline" } else { "online" },
        "statusLivechat": if livechat_status == "online" { "available" } else { "not-available" },
        "livechatStatus": livechat_status,
        "openChats": open_chats,
        "active": u.active,
    })
}
