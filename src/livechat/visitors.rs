//! Visitors (registered by their token, stored hashed), their visits (a visit is a run of
//! events without a 30-minute gap; page loads continue it) and the visitor events that
//! drive livechat triggers. Also the WebSocket side: visitor tokens on `/ws` and the
//! `visitor_event` frame.

use std::sync::{Arc, Weak};

use serde_json::{json, Value};

use super::ids::{new_id, valid_token};
use super::model::{visitor_json, visitor_name};
use super::{now_iso, now_ms, LivechatError, LivechatResult, LivechatService};
use crate::auth::secrets;
use crate::channels::{Actor, Profile};
use crate::realtime::dialect::{AuthRefusal, DialectFuture, SessionDialect};
use crate::realtime::protocol::ErrorCode;
use crate::store::livechat::{self as rows, PageRow, VisitRow, VisitorRow};
use crate::store::messages;

const MAX_FIELD: usize = 256;
const MAX_URL: usize = 2048;
const MAX_CUSTOM_FIELDS: usize = 50;

/// What a visitor does, as the widget reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitorEvent {
    Visit {
        href: String,
        title: String,
        referrer: Option<String>,
    },
    Navigate {
        href: String,
        title: String,
    },
    ChatOpened,
    Registered {
        name: Option<String>,
        email: Option<String>,
    },
}

fn opt_str(data: &Value, key: &str, max: usize) -> LivechatResult<Option<String>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.trim().to_string())),
        Some(Value::String(_)) => Err(LivechatError::invalid(format!(
            "must NOT have more than {max} characters"
        ))),
        Some(_) => Err(LivechatError::invalid(format!("{key} must be string"))),
    }
}

fn href_of(data: &Value) -> LivechatResult<String> {
    let href = opt_str(data, "href", MAX_URL)?
        .filter(|h| !h.is_empty())
        .ok_or_else(|| LivechatError::invalid("must have required property 'href'"))?;
    if url::Url::parse(&href).is_err() {
        return Err(LivechatError::invalid("href must be an absolute URL"));
    }
    Ok(href)
}

impl VisitorEvent {
    /// Parses `{event, data}` as sent to `visitor.event` or in a `visitor_event` frame.
    pub fn parse(event: &str, data: &Value) -> LivechatResult<VisitorEvent> {
        if !(data.is_null() || data.is_object()) {
            return Err(LivechatError::invalid("data must be object"));
        }
        Ok(match event {
            "visit" => VisitorEvent::Visit {
                href: href_of(data)?,
                title: opt_str(data, "title", MAX_FIELD)?.unwrap_or_default(),
                referrer: opt_str(data, "referrer", MAX_URL)?.filter(|r| !r.is_empty()),
            },
            "navigate" => VisitorEvent::Navigate {
                href: href_of(data)?,
                title: opt_str(data, "title", MAX_FIELD)?.unwrap_or_default(),
            },
            "chat-opened" => VisitorEvent::ChatOpened,
            "registered" => {
                let email = opt_str(data, "email", MAX_FIELD)?.filter(|e| !e.is_empty());
                if let Some(e) = &email {
                    validate_email(e)?;
                }
                VisitorEvent::Registered {
                    name: opt_str(data, "name", MAX_FIELD)?.filter(|n| !n.is_empty()),
                    email,
                }
            }
            _ => {
                return Err(LivechatError::invalid(
                    "event must be equal to one of the allowed values (visit, navigate, chat-opened, registered)",
                ))
            }
        })
    }
}

pub fn validate_email(e: &str) -> LivechatResult<()> {
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(LivechatError::invalid("email must match format \"email\""))
    }
}

/// A visitor's state for trigger evaluation: its row, the current visit and its pages.
#[derive(Debug, Clone)]
pub struct VisitState {
    pub visitor: VisitorRow,
    pub visit: VisitRow,
    pub current: Option<PageRow>,
}

/// What `POST livechat/visitor` carries.
#[derive(Debug, Default)]
pub struct Registration {
    pub token: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub custom_fields: Vec<(String, Value, bool)>,
}

impl LivechatService {
    pub async fn visitor_by_token(&self, token: &str) -> LivechatResult<VisitorRow> {
        if !valid_token(token) {
            return Err(LivechatError::Failure("invalid-token"));
        }
        let hash = secrets::hash(token);
        self.db
            .read(move |c| rows::visitor_by_token(c, &hash))
            .await?
            .ok_or(LivechatError::Failure("invalid-token"))
    }

    pub async fn visitor_json(&self, v: &VisitorRow, token: Option<&str>) -> LivechatResult<Value> {
        let id = v.id.clone();
        let last = self
            .db
            .read(move |c| rows::last_room_of_visitor(c, &id))
            .await?;
        Ok(visitor_json(v, token, last.as_ref()))
    }

    /// Creates the visitor for a token, or updates the fields given. A first name or
    /// email counts as the `registered` event.
    pub async fn register_visitor(
        self: &Arc<Self>,
        reg: Registration,
    ) -> LivechatResult<VisitorRow> {
        if !valid_token(&reg.token) {
            return Err(LivechatError::invalid(
                "token must be 8-128 characters of [A-Za-z0-9_.-]",
            ));
        }
        if let Some(e) = &reg.email {
            validate_email(e)?;
        }
        if reg.custom_fields.len() > MAX_CUSTOM_FIELDS {
            return Err(LivechatError::invalid(format!(
                "customFields must NOT have more than {MAX_CUSTOM_FIELDS} items"
            )));
        }
        let hash = secrets::hash(&reg.token);
        let now = now_iso();
        let (visitor, newly_registered) = self
            .db
            .write(move |c| {
                let existing = rows::visitor_by_token(c, &hash)?;
                let was_registered = existing.as_ref().is_some_and(|v| v.registered);
                let mut v = match existing {
                    Some(v) => v,
                    None => VisitorRow {
                        id: new_id(),
                        username: format!("guest-{}", rows::count_visitors(c)? + 1),
                        name: None,
                        email: None,
                        phone: None,
                        department: None,
                        custom_fields: json!({}),
                        registered: false,
                        created_at: now.clone(),
                        updated_at: now.clone(),
                    },
                };
                if reg.name.is_some() {
                    v.name = reg.name;
                }
                if reg.email.is_some() {
                    v.email = reg.email.map(|e| e.to_ascii_lowercase());
                }
                if reg.phone.is_some() {
                    v.phone = reg.phone;
                }
                if reg.department.is_some() {
                    v.department = reg.department;
                }
                if !v.custom_fields.is_object() {
                    v.custom_fields = json!({});
                }
                for (k, val, overwrite) in reg.custom_fields {
                    if overwrite || v.custom_fields.get(&k).is_none() {
                        v.custom_fields[k] = val;
                    }
                }
                v.registered = v.name.is_some() || v.email.is_some();
                v.updated_at = now;
                rows::upsert_visitor(c, &hash, &v)?;
                Ok((v.clone(), v.registered && !was_registered))
            })
            .await?;
        if newly_registered {
            let svc = self.clone();
            let v = visitor.clone();
            // Registration through the REST API also counts for `after-guest-registration`.
            tokio::spawn(async move {
                if let Err(e) = svc
                    .visitor_event(
                        &v,
                        VisitorEvent::Registered {
                            name: None,
                            email: None,
                        },
                    )
                    .await
                {
                    tracing::debug!(error = %e, "registration event");
                }
            });
        }
        Ok(visitor)
    }

    /// Erases the visitor with its visits, rooms, inquiries, room histories and trigger runs.
    pub async fn erase_visitor(&self, visitor: &VisitorRow) -> LivechatResult<()> {
        let id = visitor.id.clone();
        let rooms = self
            .db
            .write(move |c| {
                let rooms = rows::delete_visitor(c, &id)?;
                for rid in &rooms {
                    messages::delete_channel(c, &super::room_channel(rid))?;
                }
                messages::delete_channel(c, &format!("{}{id}", super::VISITOR_FEED_PREFIX))?;
                Ok(rooms)
            })
            .await?;
        for rid in &rooms {
            self.index.remove_room(rid);
        }
        if let Some(live) = self.live.lock().remove(&visitor.id) {
            for t in live.timers {
                t.abort();
            }
        }
        tracing::info!(visitor = %visitor.id, rooms = rooms.len(), "visitor erased");
        Ok(())
    }

    /// Records an event in the visitor's visit and evaluates the livechat triggers.
    /// Returns the ids of the triggers that fired.
    pub async fn visitor_event(
        self: &Arc<Self>,
        visitor: &VisitorRow,
        event: VisitorEvent,
    ) -> LivechatResult<Vec<String>> {
        let state = self.record_event(visitor, &event).await?;
        self.evaluate_triggers(state, Some(&event)).await
    }

    /// The visitor's current visit as stored, or a new one (30-minute gap).
    async fn record_event(
        &self,
        visitor: &VisitorRow,
        event: &VisitorEvent,
    ) -> LivechatResult<VisitState> {
        let visitor_id = visitor.id.clone();
        let event = event.clone();
        let now = now_ms();
        let gap = self.settings.visit_gap_ms();
        let state = self
            .db
            .write(move |c| {
                let mut v = rows::visitor(c, &visitor_id)?.ok_or(crate::store::StoreError::NotFound)?;
                let current = rows::last_visit(c, &visitor_id)?;
                let mut visit = match current {
                    Some(visit) if now - visit.last_event_ms <= gap => visit,
                    _ => {
                        let visit = VisitRow {
                            id: new_id(),
                            visitor_id: visitor_id.clone(),
                            started_ms: now,
                            last_event_ms: now,
                            referrer: match &event {
                                VisitorEvent::Visit { referrer, .. } => referrer.clone(),
                                _ => None,
                            },
                            chat_opened: false,
                        };
                        rows::insert_visit(c, &visit)?;
                        visit
                    }
                };
                match &event {
                    VisitorEvent::Visit { href, title, .. } | VisitorEvent::Navigate { href, title } => {
                        rows::insert_page(
                            c,
                            &visit.id,
                            &PageRow {
                                href: href.clone(),
                                title: title.clone(),
                                at_ms: now,
                            },
                        )?;
                    }
                    VisitorEvent::ChatOpened => visit.chat_opened = true,
                    VisitorEvent::Registered { name, email } => {
                        if name.is_some() {
                            v.name = name.clone();
                        }
                        if email.is_some() {
                            v.email = email.clone();
                        }
                        v.registered = true;
                        v.updated_at = now_iso();
                        c.execute(
                            "UPDATE livechat_visitors SET name = ?2, email = ?3, registered = 1, updated_at = ?4 WHERE id = ?1",
                            rusqlite::params![v.id, v.name, v.email, v.updated_at],
                        )?;
                    }
                }
                rows::touch_visit(c, &visit.id, now, visit.chat_opened)?;
                visit.last_event_ms = now;
                let current = rows::pages(c, &visit.id, 10_000)?.pop();
                Ok(VisitState {
                    visitor: v,
                    visit,
                    current,
                })
            })
            .await?;
        Ok(state)
    }

    /// The visitor's current state, read back (for timers).
    pub async fn visit_state(&self, visitor_id: &str) -> LivechatResult<Option<VisitState>> {
        let id = visitor_id.to_string();
        Ok(self
            .db
            .read(move |c| {
                let Some(visitor) = rows::visitor(c, &id)? else {
                    return Ok(None);
                };
                let Some(visit) = rows::last_visit(c, &id)? else {
                    return Ok(None);
                };
                let current = rows::pages(c, &visit.id, 10_000)?.pop();
                Ok(Some(VisitState {
                    visitor,
                    visit,
                    current,
                }))
            })
            .await?)
    }

    /// Visit context for the inbox: the current visit with its pages and times.
    pub async fn visit_context(&self, visitor_id: &str) -> LivechatResult<Value> {
        let id = visitor_id.to_string();
        let now = now_ms();
        let (visit, pages, count) = self
            .db
            .read(move |c| {
                let visit = rows::last_visit(c, &id)?;
                let pages = match &visit {
                    Some(v) => rows::pages(c, &v.id, 500)?,
                    None => Vec::new(),
                };
                Ok((visit, pages, rows::count_visits(c, &id)?))
            })
            .await?;
        let Some(visit) = visit else {
            return Ok(json!({"visit": null, "visits": count}));
        };
        let alive = now - visit.last_event_ms <= self.settings.visit_gap_ms();
        let end = if alive { now } else { visit.last_event_ms };
        let pages_json: Vec<Value> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let until = pages.get(i + 1).map(|n| n.at_ms).unwrap_or(end);
                json!({"href": p.href, "title": p.title, "at": super::iso(p.at_ms),
                       "seconds": ((until - p.at_ms).max(0)) / 1000})
            })
            .collect();
        Ok(json!({
            "visit": {
                "_id": visit.id,
                "startedAt": super::iso(visit.started_ms),
                "lastEventAt": super::iso(visit.last_event_ms),
                "active": alive,
                "timeOnSite": (end - visit.started_ms).max(0) / 1000,
                "referrer": visit.referrer,
                "chatOpened": visit.chat_opened,
                "current": pages.last().map(|p| json!({"href": p.href, "title": p.title})),
                "pages": pages_json,
            },
            "visits": count,
        }))
    }
}

/// The session side of livechat: visitor tokens on `/ws` and `visitor_event` frames.
pub struct Frames(pub Weak<LivechatService>);

pub fn visitor_actor(v: &VisitorRow) -> Actor {
    Actor::Visitor(Arc::new(Profile {
        id: v.id.clone(),
        username: v.username.clone(),
        name: visitor_name(v),
    }))
}

impl SessionDialect for Frames {
    fn visitor(&self, token: String) -> DialectFuture<Result<Actor, AuthRefusal>> {
        let svc = self.0.upgrade();
        Box::pin(async move {
            let svc = svc.ok_or_else(|| AuthRefusal::denied("livechat is not available"))?;
            match svc.visitor_by_token(&token).await {
                Ok(v) => Ok(visitor_actor(&v)),
                Err(LivechatError::Store(e)) => {
                    tracing::error!(error = %e, "visitor token lookup failed");
                    Err(AuthRefusal::unavailable("internal error"))
                }
                Err(_) => Err(AuthRefusal::denied("invalid-token")),
            }
        })
    }

    fn frame(
        &self,
        actor: &Actor,
        action: &str,
        payload: Value,
    ) -> Option<DialectFuture<Result<Value, (ErrorCode, String)>>> {
        let svc = self.0.upgrade();
        let actor = actor.clone();
        match action {
            "visitor_event" => Some(Box::pin(async move {
                let svc = svc.ok_or((ErrorCode::Internal, "livechat is not available".into()))?;
                visitor_event_frame(&svc, &actor, payload)
                    .await
                    .map_err(frame_error)
            })),
            "livechat_message" => Some(Box::pin(async move {
                let svc = svc.ok_or((ErrorCode::Internal, "livechat is not available".into()))?;
                message_frame(&svc, actor, payload)
                    .await
                    .map_err(frame_error)
            })),
            _ => None,
        }
    }

    fn joined(&self, actor: &Actor, channel: &str) {
        if let (Some(svc), Some(agent)) = (self.0.upgrade(), own_feed(actor, channel)) {
            svc.agent_connected(agent);
        }
    }

    fn left(&self, actor: &Actor, channel: &str) {
        if let (Some(svc), Some(agent)) = (self.0.upgrade(), own_feed(actor, channel)) {
            svc.agent_disconnected(agent);
        }
    }
}

/// The agent whose own feed (`livechat-agent/{id}`) this is, when `actor` is that agent.
pub fn own_feed(actor: &Actor, channel: &str) -> Option<i64> {
    let id: i64 = channel
        .strip_prefix(super::AGENT_FEED_PREFIX)?
        .parse()
        .ok()?;
    let staff = actor.staff()?;
    (staff.user_id == id).then_some(id)
}

/// How a livechat failure reads in an `error` frame.
fn frame_error(e: LivechatError) -> (ErrorCode, String) {
    let code = match &e {
        LivechatError::RateLimited { .. } => ErrorCode::RateLimited,
        LivechatError::InvalidParams(_)
        | LivechatError::Failure(_)
        | LivechatError::Coded { .. } => ErrorCode::BadRequest,
        LivechatError::Unauthenticated => ErrorCode::Unauthorized,
        LivechatError::NoPermission | LivechatError::NotYours => ErrorCode::Forbidden,
        LivechatError::TooLarge(_) => ErrorCode::TooLarge,
        LivechatError::NotFound => ErrorCode::NotFound,
        _ => ErrorCode::Internal,
    };
    let message = match e {
        LivechatError::Store(_) | LivechatError::Internal(_) => "internal error".to_string(),
        other => other.to_string(),
    };
    (code, message)
}

fn field(payload: &Value, key: &str) -> LivechatResult<String> {
    match payload.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(LivechatError::invalid(format!("{key} must be string"))),
        None => Err(LivechatError::invalid(format!(
            "must have required property '{key}'"
        ))),
    }
}

/// `{"action": "visitor_event", "payload": {event, data}}` from a visitor socket.
async fn visitor_event_frame(
    svc: &Arc<LivechatService>,
    actor: &Actor,
    payload: Value,
) -> LivechatResult<Value> {
    let Some(visitor_id) = actor.visitor().map(|v| v.id.clone()) else {
        return Err(LivechatError::Unauthenticated);
    };
    svc.limits
        .check(super::settings::Scope::Token, &visitor_id)?;
    let event = field(&payload, "event")?;
    let data = payload.get("data").cloned().unwrap_or(Value::Null);
    let event = VisitorEvent::parse(&event, &data)?;
    let visitor = svc
        .db
        .read(move |c| rows::visitor(c, &visitor_id))
        .await?
        .ok_or(LivechatError::Failure("invalid-token"))?;
    let fired = svc.visitor_event(&visitor, event).await?;
    Ok(json!({"fired": fired}))
}

/// `{"action": "livechat_message", "payload": {rid, msg, _id?}}`: a visitor or an agent
/// writes to a room over its socket (the same checks as the REST routes).
async fn message_frame(
    svc: &Arc<LivechatService>,
    actor: Actor,
    payload: Value,
) -> LivechatResult<Value> {
    if !payload.is_object() {
        return Err(LivechatError::invalid("payload must be object"));
    }
    let rid = field(&payload, "rid")?;
    let msg = field(&payload, "msg")?;
    let id = match payload.get("_id") {
        None | Some(Value::Null) => None,
        Some(_) => Some(field(&payload, "_id")?),
    };
    if let Some(v) = actor.visitor() {
        svc.limits.check(super::settings::Scope::Token, &v.id)?;
        let vid = v.id.clone();
        let visitor = svc
            .db
            .read(move |c| rows::visitor(c, &vid))
            .await?
            .ok_or(LivechatError::Failure("invalid-token"))?;
        let message = svc.visitor_message(&visitor, &rid, msg, id).await?;
        return Ok(json!({"message": message}));
    }
    let user_id = match &actor {
        Actor::Member { staff: Some(s), .. } => s.user_id,
        Actor::Admin(crate::channels::message::Author::Admin(id)) => *id,
        Actor::Anonymous(_) => return Err(LivechatError::Unauthenticated),
        _ => return Err(LivechatError::NoPermission),
    };
    svc.limits
        .check(super::settings::Scope::User, &format!("u{user_id}"))?;
    let agent = svc
        .agent_info(user_id)
        .await?
        .ok_or(LivechatError::Unauthenticated)?;
    let message = svc.agent_message(actor, &agent, &rid, msg, id).await?;
    Ok(json!({"message": message}))
}
