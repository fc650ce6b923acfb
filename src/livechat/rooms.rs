//! Rooms: opening one for a visitor, messages from visitors, agents, triggers and the
//! system (all published on `livechat/{rid}` through the channel pipeline), history,
//! closing. Room rows change only inside one writer job (read, change, write), so
//! concurrent messages and routing never lose each other's updates.

use std::sync::Arc;

use serde_json::{json, Value};

use super::ids::{new_id, valid_client_id, valid_room_id};
use super::model::{inquiry_json, message_payload, room_json, visitor_name, Speaker};
use super::{
    now_iso, room_channel, AgentInfo, LivechatError, LivechatResult, LivechatService,
    AGENT_FEED_PREFIX, QUEUE_FEED, ROOMS_FEED, VISITOR_FEED_PREFIX,
};
use crate::channels::message::{Author, Kind};
use crate::channels::{Actor, Origin, PublishRequest, Staff};
use crate::store::livechat::{self as rows, InquiryRow, RoomRow, VisitorRow};
use crate::store::StoreError;

/// Who closes a room.
pub enum Closer {
    Visitor,
    User(AgentInfo),
}

/// What a message to a room says and who says it.
pub struct NewMessage {
    pub id: Option<String>,
    pub msg: String,
    pub speaker: Speaker,
    pub t: Option<&'static str>,
    pub trigger: Option<Value>,
}

impl LivechatService {
    pub async fn room(&self, rid: &str) -> LivechatResult<Option<RoomRow>> {
        if !valid_room_id(rid) {
            return Ok(None);
        }
        let rid = rid.to_string();
        Ok(self.db.read(move |c| rows::room(c, &rid)).await?)
    }

    pub async fn visitor_of_room(&self, room: &RoomRow) -> LivechatResult<VisitorRow> {
        let id = room.visitor_id.clone();
        self.db
            .read(move |c| rows::visitor(c, &id))
            .await?
            .ok_or(LivechatError::Failure("invalid-room"))
    }

    /// The room as Rocket.Chat shows it (with the token only for its visitor).
    pub async fn room_json(&self, room: &RoomRow, token: Option<&str>) -> LivechatResult<Value> {
        let visitor = self.visitor_of_room(room).await?;
        let agent = match room.agent_id {
            Some(id) => self.agent_info(id).await?,
            None => None,
        };
        Ok(room_json(room, &visitor, agent.as_ref(), token))
    }

    /// Reads a room, changes it and writes it back in one writer job.
    pub async fn mutate_room<T: Send + 'static>(
        &self,
        rid: &str,
        f: impl FnOnce(&rusqlite::Connection, &mut RoomRow) -> LivechatResult<T> + Send + 'static,
    ) -> LivechatResult<(RoomRow, T)> {
        let rid = rid.to_string();
        let result = self
            .db
            .write(move |c| {
                let Some(mut room) = rows::room(c, &rid)? else {
                    return Ok(Err(LivechatError::Failure("invalid-room")));
                };
                match f(c, &mut room) {
                    Ok(out) => {
                        room.updated_at = now_iso();
                        rows::update_room(c, &room)?;
                        Ok(Ok((room, out)))
                    }
                    Err(e) => Ok(Err(e)),
                }
            })
            .await?;
        result
    }

    /// The visitor's open room, or a new one. `queued` rooms enter the queue (and are
    /// routed); `pending` rooms wait for the visitor to write.
    pub async fn open_room(
        self: &Arc<Self>,
        visitor: &VisitorRow,
        source: &str,
        pending: bool,
        reserved_agent: Option<i64>,
    ) -> LivechatResult<(RoomRow, bool)> {
        let vid = visitor.id.clone();
        let source = source.to_string();
        let now = now_iso();
        let (room, inquiry, created) = self
            .db
            .write(move |c| {
                if let Some(room) = rows::open_room_of_visitor(c, &vid)? {
                    return Ok((room, None, false));
                }
                let room = RoomRow {
                    id: new_id(),
                    visitor_id: vid,
                    status: if pending { "pending" } else { "queued" }.into(),
                    agent_id: None,
                    served_at: None,
                    reserved_agent_id: reserved_agent,
                    source,
                    msgs: 0,
                    last_message_at: None,
                    waiting_response: false,
                    agent_replied: false,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    closed_at: None,
                    closer: None,
                    closed_by: None,
                    close_comment: None,
                };
                rows::insert_room(c, &room)?;
                let inquiry = if pending {
                    None
                } else {
                    let q = new_inquiry(&room.id, "", &now);
                    rows::put_inquiry(c, &q)?;
                    Some(q)
                };
                Ok((room, inquiry, true))
            })
            .await?;
        if !created {
            return Ok((room, false));
        }
        self.index.add_room(&room.id, &visitor.id);
        metrics::counter!("rtbox_livechat_rooms_opened_total").increment(1);
        let room_value = room_json(&room, visitor, None, None);
        self.announce(
            format!("{VISITOR_FEED_PREFIX}{}", visitor.id),
            json!({"type": "room-opened", "room": room_value}),
        )
        .await;
        self.announce(
            ROOMS_FEED.into(),
            json!({"type": "room-opened", "room": room_value}),
        )
        .await;
        if let Some(q) = inquiry {
            self.announce(
                QUEUE_FEED.into(),
                json!({"type": "inquiry-queued", "inquiry": inquiry_json(&q, visitor)}),
            )
            .await;
            self.route(&room.id).await?;
        }
        let room = self.room(&room.id).await?.unwrap_or(room);
        Ok((room, true))
    }

    /// The message already stored under a client's `_id` (a retried send is answered
    /// with it instead of being stored twice).
    async fn already_sent(&self, rid: &str, id: Option<&str>) -> LivechatResult<Option<Value>> {
        let Some(id) = id.filter(|i| valid_client_id(i)) else {
            return Ok(None);
        };
        let (channel, id) = (room_channel(rid), id.to_string());
        let found = self
            .db
            .read(move |c| rows::room_message_by_id(c, &channel, &id))
            .await?;
        Ok(found.map(|(seq, mut payload)| {
            payload["seq"] = json!(seq);
            payload
        }))
    }

    /// Publishes a message to the room's channel (durable before this returns).
    pub async fn post(
        &self,
        rid: &str,
        actor: Option<Actor>,
        m: NewMessage,
    ) -> LivechatResult<Value> {
        let id = match m.id {
            Some(id) if valid_client_id(&id) => id,
            Some(_) => {
                return Err(LivechatError::invalid(
                    "_id must match pattern ^[A-Za-z0-9_-]{1,64}$",
                ))
            }
            None => new_id(),
        };
        let payload = message_payload(&id, rid, &m.msg, &now_iso(), &m.speaker, m.t, m.trigger);
        let raw = serde_json::value::to_raw_value(&payload)
            .map_err(|e| LivechatError::Internal(e.to_string()))?;
        let origin = match actor {
            Some(actor) => Origin::Dialect(actor),
            None => Origin::Server(Author::Livechat(match m.speaker.sender {
                "trigger" => "trigger".into(),
                _ => "system".into(),
            })),
        };
        let published = self
            .channels
            .publish(PublishRequest {
                channel: room_channel(rid),
                room: None,
                payload: raw,
                kind: Kind::Message,
                origin,
            })
            .await?;
        metrics::counter!("rtbox_livechat_messages_total", "sender" => m.speaker.sender)
            .increment(1);
        let mut out = payload;
        out["seq"] = json!(published.message.id);
        Ok(out)
    }

    pub async fn system_message(&self, rid: &str, t: &'static str, msg: &str, u: Value) {
        let m = NewMessage {
            id: None,
            msg: msg.to_string(),
            speaker: Speaker {
                sender: "system",
                u,
            },
            t: Some(t),
            trigger: None,
        };
        if let Err(e) = self.post(rid, None, m).await {
            tracing::warn!(rid, error = %e, "livechat system message not published");
        }
    }

    fn check_length(&self, msg: &str) -> LivechatResult<()> {
        if msg.trim().is_empty() {
            return Err(LivechatError::invalid(
                "msg must NOT have fewer than 1 characters",
            ));
        }
        if let Some(limit) = self.settings.message_limit() {
            if msg.chars().count() > limit {
                return Err(LivechatError::Failure(
                    "message-length-exceeds-character-limit",
                ));
            }
        }
        Ok(())
    }

    /// A visitor writes to its room. A `pending` room (opened by a trigger) enters the
    /// queue now, or goes to the trigger's reserved agent when it is online.
    pub async fn visitor_message(
        self: &Arc<Self>,
        visitor: &VisitorRow,
        rid: &str,
        msg: String,
        id: Option<String>,
    ) -> LivechatResult<Value> {
        let room = self
            .room(rid)
            .await?
            .filter(|r| r.visitor_id == visitor.id)
            .ok_or(LivechatError::Failure("invalid-room"))?;
        if let Some(existing) = self.already_sent(rid, id.as_deref()).await? {
            return Ok(existing);
        }
        if room.status == "closed" {
            return Err(LivechatError::Failure("room-closed"));
        }
        self.check_length(&msg)?;
        let actor = super::visitors::visitor_actor(visitor);
        let speaker = Speaker {
            sender: "visitor",
            u: json!({"_id": visitor.id, "username": visitor.username, "name": visitor_name(visitor)}),
        };
        let text = msg.clone();
        let message = self
            .post(
                rid,
                Some(actor),
                NewMessage {
                    id,
                    msg,
                    speaker,
                    t: None,
                    trigger: None,
                },
            )
            .await?;
        let now = now_iso();
        let (room, queued) = self
            .mutate_room(rid, move |c, r| {
                r.msgs += 1;
                r.last_message_at = Some(now.clone());
                r.waiting_response = true;
                let mut queued = None;
                if r.status == "pending" {
                    r.status = "queued".into();
                    let q = new_inquiry(&r.id, &text, &now);
                    rows::put_inquiry(c, &q)?;
                    queued = Some(q);
                } else if let Some(mut q) = rows::inquiry_of_room(c, &r.id)? {
                    if q.message.is_empty() {
                        q.message = text.chars().take(200).collect();
                        q.updated_at = now.clone();
                        rows::put_inquiry(c, &q)?;
                    }
                }
                Ok(queued)
            })
            .await?;
        if let Some(q) = queued {
            self.announce(
                QUEUE_FEED.into(),
                json!({"type": "inquiry-queued", "inquiry": inquiry_json(&q, visitor)}),
            )
            .await;
            match room.reserved_agent_id {
                Some(agent) if self.agent_is_online(agent).await? => {
                    self.assign(&room.id, agent, None).await?;
                }
                _ => self.route(&room.id).await?,
            }
        } else {
            self.room_updated(&room, visitor).await;
        }
        Ok(message)
    }

    /// Tells the serving agent (and managers) that a room changed.
    pub async fn room_updated(&self, room: &RoomRow, visitor: &VisitorRow) {
        let agent = match room.agent_id {
            Some(id) => self.agent_info(id).await.ok().flatten(),
            None => None,
        };
        let value = room_json(room, visitor, agent.as_ref(), None);
        if let Some(a) = room.agent_id {
            self.announce(
                format!("{AGENT_FEED_PREFIX}{a}"),
                json!({"type": "room-updated", "room": value}),
            )
            .await;
        }
        self.announce(
            ROOMS_FEED.into(),
            json!({"type": "room-updated", "room": value}),
        )
        .await;
    }

    /// Whether `staff` may act on the room: managers always, agents when they serve it.
    pub fn may_act(staff: &Staff, room: &RoomRow) -> bool {
        staff.manager || (staff.agent && room.agent_id == Some(staff.user_id))
    }

    /// An agent (or manager) answers in a room.
    pub async fn agent_message(
        &self,
        actor: Actor,
        agent: &AgentInfo,
        rid: &str,
        msg: String,
        id: Option<String>,
    ) -> LivechatResult<Value> {
        let room = self
            .room(rid)
            .await?
            .ok_or(LivechatError::coded("error-invalid-room", "Invalid room"))?;
        let staff = actor.staff();
        let allowed =
            matches!(actor, Actor::Admin(_)) || staff.is_some_and(|s| Self::may_act(&s, &room));
        if !allowed {
            return Err(LivechatError::NotYours);
        }
        if let Some(existing) = self.already_sent(rid, id.as_deref()).await? {
            return Ok(existing);
        }
        if room.status == "closed" {
            return Err(LivechatError::Failure("room-closed"));
        }
        self.check_length(&msg)?;
        // Managers who do not serve the room write as themselves; the channel check needs
        // a membership, which admins and managers have.
        let message = self
            .post(
                rid,
                Some(actor),
                NewMessage {
                    id,
                    msg,
                    speaker: Speaker {
                        sender: "agent",
                        u: agent.short(),
                    },
                    t: None,
                    trigger: None,
                },
            )
            .await?;
        let now = now_iso();
        let (room, _) = self
            .mutate_room(rid, move |_, r| {
                r.msgs += 1;
                r.last_message_at = Some(now);
                r.waiting_response = false;
                r.agent_replied = true;
                Ok(())
            })
            .await?;
        let visitor = self.visitor_of_room(&room).await?;
        self.room_updated(&room, &visitor).await;
        Ok(message)
    }

    /// Room history, newest first: (messages with `seq`).
    pub async fn history(
        &self,
        rid: &str,
        older_than: Option<String>,
        newer_than: Option<String>,
        offset: i64,
        limit: i64,
    ) -> LivechatResult<Vec<Value>> {
        let channel = room_channel(rid);
        let rows = self
            .db
            .read(move |c| {
                rows::room_messages(
                    c,
                    &channel,
                    older_than.as_deref(),
                    newer_than.as_deref(),
                    offset,
                    limit,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, mut payload)| {
                payload["seq"] = json!(seq);
                payload
            })
            .collect())
    }

    /// Closes a room with an optional comment.
    pub async fn close_room(
        &self,
        rid: &str,
        closer: Closer,
        comment: Option<String>,
    ) -> LivechatResult<RoomRow> {
        let now = now_iso();
        let (closer_word, closed_by) = match &closer {
            Closer::Visitor => ("visitor", None),
            Closer::User(a) => (
                "user",
                Some(json!({"_id": a.id.to_string(), "username": a.username})),
            ),
        };
        let c2 = comment.clone();
        let (room, inquiry) = self
            .mutate_room(rid, move |c, r| {
                if r.status == "closed" {
                    return Err(match closer_word {
                        "visitor" => LivechatError::Failure("room-closed"),
                        _ => {
                            LivechatError::coded("error-room-already-closed", "Room already closed")
                        }
                    });
                }
                r.status = "closed".into();
                r.closed_at = Some(now.clone());
                r.closer = Some(closer_word.into());
                r.closed_by = closed_by;
                r.close_comment = c2;
                r.waiting_response = false;
                let mut q = rows::inquiry_of_room(c, &r.id)?;
                if let Some(q) = q.as_mut() {
                    q.status = "closed".into();
                    q.updated_at = now;
                    rows::put_inquiry(c, q)?;
                }
                Ok(q)
            })
            .await?;
        metrics::counter!("rtbox_livechat_rooms_closed_total").increment(1);
        let msg = comment.unwrap_or_default();
        let u = match &closer {
            Closer::Visitor => json!({"_id": room.visitor_id}),
            Closer::User(a) => a.short(),
        };
        self.system_message(rid, "livechat-close", &msg, u).await;
        let visitor = self.visitor_of_room(&room).await?;
        let value = self.room_json(&room, None).await?;
        if let Some(q) = inquiry {
            if room.agent_id.is_none() {
                self.announce(
                    QUEUE_FEED.into(),
                    json!({"type": "inquiry-removed", "inquiry": inquiry_json(&q, &visitor)}),
                )
                .await;
            }
        }
        if let Some(a) = room.agent_id {
            self.announce(
                format!("{AGENT_FEED_PREFIX}{a}"),
                json!({"type": "room-closed", "room": value}),
            )
            .await;
        }
        self.announce(
            format!("{VISITOR_FEED_PREFIX}{}", visitor.id),
            json!({"type": "room-closed", "room": value}),
        )
        .await;
        self.announce(
            ROOMS_FEED.into(),
            json!({"type": "room-closed", "room": value}),
        )
        .await;
        Ok(room)
    }

    /// The room's transcript as plain text lines, oldest first.
    pub async fn transcript_text(&self, room: &RoomRow) -> LivechatResult<String> {
        let mut all = self.history(&room.id, None, None, 0, 10_000).await?;
        all.reverse();
        let mut out = String::new();
        for m in all {
            if m["t"].is_string() && m["t"] != "livechat-close" {
                continue;
            }
            let who = m["u"]["name"]
                .as_str()
                .or_else(|| m["u"]["username"].as_str())
                .unwrap_or("system");
            let ts = m["ts"].as_str().unwrap_or_default();
            let text = m["msg"].as_str().unwrap_or_default();
            if m["t"] == "livechat-close" {
                out.push_str(&format!("[{ts}] — conversation closed {text}\n"));
            } else {
                out.push_str(&format!("[{ts}] {who}: {text}\n"));
            }
        }
        Ok(out)
    }

    pub async fn inquiry_for(&self, q: &InquiryRow) -> LivechatResult<Value> {
        let rid = q.room_id.clone();
        let room = self
            .db
            .read(move |c| rows::room(c, &rid))
            .await?
            .ok_or(StoreError::NotFound)?;
        let visitor = self.visitor_of_room(&room).await?;
        Ok(inquiry_json(q, &visitor))
    }
}

pub fn new_inquiry(rid: &str, message: &str, now: &str) -> InquiryRow {
    InquiryRow {
        id: new_id(),
        room_id: rid.to_string(),
        status: "queued".into(),
        message: message.chars().take(200).collect(),
        queued_at: now.to_string(),
        taken_at: None,
        agent_id: None,
        updated_at: now.to_string(),
    }
}
