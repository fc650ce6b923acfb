//! Agent routes (login): rooms, inquiries (the queue), replying, closing, forwarding,
//! own status, visitor context, offline messages, agents/managers, appearance, and
//! Rocket.Chat's `settings/{id}` and `chat.sendMessage`. Checks run auth → rate limit →
//! validation → permission, as Rocket.Chat's do.

use actix_web::{web, HttpRequest};
use serde_json::{json, Value};

use super::{
    json_body, object_body, ok, only_keys, opt_str, req_str, staff, Query, Reply, Result,
    StaffCaller, Svc,
};
use crate::livechat::model::staff_json;
use crate::livechat::rooms::Closer;
use crate::livechat::routing::{Unassign, STATUSES};
use crate::livechat::settings::{self as lsettings, DEFS};
use crate::livechat::{now_iso, parse_date, LivechatError, LivechatService};
use crate::store::livechat::{self as rows, RoomFilter, RoomRow};
use crate::store::users;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms", web::get().to(rooms))
        .route("/room.info", web::get().to(room_info))
        .route("/room.context", web::get().to(room_context))
        .route("/inquiries.list", web::get().to(inquiries_list))
        .route("/inquiries.take", web::post().to(inquiries_take))
        .route("/inquiries.getOne", web::get().to(inquiries_get_one))
        .route("/agent.message", web::post().to(agent_message))
        .route("/room.closeByUser", web::post().to(close_by_user))
        .route("/room.forward", web::post().to(forward))
        .route("/agent.status", web::post().to(set_status))
        .route("/agent.status", web::get().to(get_status))
        .route("/visitors.info", web::get().to(visitors_info))
        .route("/visitors.pagesVisited/{rid}", web::get().to(pages_visited))
        .route("/offline.messages", web::get().to(offline_list))
        .route(
            "/offline.messages/{id}/handled",
            web::post().to(offline_handled),
        )
        .route("/agents.available", web::get().to(agents_available))
        .route("/users/{kind}", web::get().to(users_list))
        .route("/users/{kind}", web::post().to(users_add))
        .route("/users/{kind}/{id}", web::get().to(users_get))
        .route("/users/{kind}/{id}", web::delete().to(users_remove))
        .route("/appearance", web::get().to(appearance_get))
        .route("/appearance", web::post().to(appearance_set));
}

/// Rocket.Chat routes outside `/api/v1/livechat`.
pub fn configure_outside(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/chat.sendMessage",
        web::post().to(chat_send_message),
    )
    .route("/api/v1/settings/{id}", web::get().to(setting_get))
    .route("/api/v1/settings/{id}", web::post().to(setting_set));
}

/// A room the caller may act on (managers: any; agents: the rooms they serve).
async fn own_room(svc: &LivechatService, caller: &StaffCaller, rid: &str) -> Result<RoomRow> {
    let room = svc
        .room(rid)
        .await?
        .ok_or(LivechatError::coded("error-invalid-room", "Invalid room"))?;
    if !LivechatService::may_act(&caller.staff, &room) {
        return Err(LivechatError::NotYours);
    }
    Ok(room)
}

async fn rooms(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    let mut agents = Vec::new();
    for a in q.all("agents") {
        agents.push(
            a.parse::<i64>()
                .map_err(|_| LivechatError::invalid("agents must be user ids"))?,
        );
    }
    let open = match q.get("open") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(LivechatError::invalid("open must be boolean")),
    };
    let status = q.get("status").map(str::to_string);
    if let Some(s) = &status {
        if !["pending", "queued", "open", "closed"].contains(&s.as_str()) {
            return Err(LivechatError::invalid(
                "must be equal to one of the allowed values",
            ));
        }
    }
    let range = |key: &str| -> Result<(Option<String>, Option<String>)> {
        let Some(raw) = q.get(key) else {
            return Ok((None, None));
        };
        let v: Value = serde_json::from_str(raw)
            .map_err(|_| LivechatError::invalid(format!("{key} must be JSON {{start, end}}")))?;
        let pick = |k: &str| -> Result<Option<String>> {
            match v.get(k).and_then(Value::as_str) {
                None => Ok(None),
                Some(s) => parse_date(s)
                    .map(Some)
                    .ok_or_else(|| LivechatError::invalid(format!("{key}.{k} must be a date"))),
            }
        };
        Ok((pick("start")?, pick("end")?))
    };
    let (created_from, created_to) = range("createdAt")?;
    let (closed_from, closed_to) = range("closedAt")?;
    let descending = match q.get("sort") {
        None => true,
        Some(s) => {
            let v: Value =
                serde_json::from_str(s).map_err(|_| LivechatError::invalid("sort must be JSON"))?;
            v.get("ts").and_then(Value::as_i64).unwrap_or(-1) < 0
        }
    };
    caller.require_agent()?;
    // Agents see the rooms they serve; managers every room.
    if !caller.staff.manager {
        agents = vec![caller.staff.user_id];
    }
    let filter = RoomFilter {
        agents,
        open,
        status,
        visitor_name: q.get("roomName").map(str::to_string),
        created_from,
        created_to,
        closed_from,
        closed_to,
        descending,
        offset,
        limit: count,
    };
    let (rows, total) = svc.db().read(move |c| rows::rooms(c, &filter)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(svc.room_json(r, None).await?);
    }
    Ok(ok(
        json!({"rooms": out, "count": out.len(), "offset": offset, "total": total}),
    ))
}

async fn room_info(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let rid = q.require("rid")?.to_string();
    caller.require_agent()?;
    let room = own_room(&svc, &caller, &rid).await?;
    Ok(ok(json!({"room": svc.room_json(&room, None).await?})))
}

async fn room_context(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let rid = q.require("rid")?.to_string();
    caller.require_agent()?;
    let room = own_room(&svc, &caller, &rid).await?;
    let visitor = svc.visitor_of_room(&room).await?;
    let context = svc.visit_context(&visitor.id).await?;
    Ok(ok(json!({
        "room": svc.room_json(&room, None).await?,
        "visitor": svc.visitor_json(&visitor, None).await?,
        "visit": context["visit"],
        "visits": context["visits"],
    })))
}

async fn inquiries_list(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    let status = q.get("status").unwrap_or("queued").to_string();
    if !["queued", "taken", "closed"].contains(&status.as_str()) {
        return Err(LivechatError::invalid(
            "must be equal to one of the allowed values",
        ));
    }
    caller.require_agent()?;
    let (list, total) = svc
        .db()
        .read(move |c| rows::inquiries(c, &status, offset, count))
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for i in &list {
        out.push(svc.inquiry_for(i).await?);
    }
    Ok(ok(
        json!({"inquiries": out, "count": out.len(), "offset": offset, "total": total}),
    ))
}

async fn inquiries_take(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let inquiry_id = req_str(&o, "inquiryId")?;
    let user_id = opt_str(&o, "userId")?;
    only_keys(&o, &["inquiryId", "userId", "options"])?;
    caller.require_agent()?;
    let agent = match user_id {
        Some(u) if u != caller.info.id.to_string() => {
            caller.require_manager()?;
            u.parse::<i64>()
                .map_err(|_| LivechatError::coded("error-invalid-user", "Invalid user"))?
        }
        _ => caller.info.id,
    };
    ensure_agent(&svc, agent).await?;
    let i = inquiry_id.clone();
    let inquiry =
        svc.db()
            .read(move |c| rows::inquiry(c, &i))
            .await?
            .ok_or(LivechatError::coded(
                "error-invalid-inquiry",
                "Invalid inquiry",
            ))?;
    if inquiry.status != "queued" {
        return Err(LivechatError::coded(
            "error-inquiry-taken",
            "Inquiry already taken",
        ));
    }
    let svc = svc.into_inner();
    svc.assign(&inquiry.room_id, agent, None).await?;
    let i = inquiry_id.clone();
    let inquiry =
        svc.db()
            .read(move |c| rows::inquiry(c, &i))
            .await?
            .ok_or(LivechatError::coded(
                "error-invalid-inquiry",
                "Invalid inquiry",
            ))?;
    Ok(ok(json!({"inquiry": svc.inquiry_for(&inquiry).await?})))
}

async fn ensure_agent(svc: &LivechatService, id: i64) -> Result<()> {
    let user = svc.db().read(move |c| users::get(c, id)).await?;
    match user {
        Some(u) if u.active && u.has_role("agent") => Ok(()),
        _ => Err(LivechatError::coded(
            "error-invalid-agent",
            "The user is not an agent",
        )),
    }
}

async fn inquiries_get_one(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let rid = q.require("roomId")?.to_string();
    caller.require_agent()?;
    let inquiry = svc
        .db()
        .read(move |c| rows::inquiry_of_room(c, &rid))
        .await?;
    let value = match inquiry {
        Some(i) => svc.inquiry_for(&i).await?,
        None => Value::Null,
    };
    Ok(ok(json!({"inquiry": value})))
}

async fn send(
    req: &HttpRequest,
    svc: &LivechatService,
    o: &serde_json::Map<String, Value>,
    caller: StaffCaller,
) -> Result<Reply> {
    let rid = req_str(o, "rid")?;
    let msg = req_str(o, "msg")?;
    let id = opt_str(o, "_id")?;
    let _ = req;
    caller.require_agent()?;
    let message = svc
        .agent_message(caller.actor.clone(), &caller.info, &rid, msg, id)
        .await?;
    Ok(ok(json!({"message": message})))
}

async fn agent_message(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    only_keys(&o, &["rid", "msg", "_id"])?;
    send(&req, &svc, &o, caller).await
}

/// Rocket.Chat's `chat.sendMessage {message: {rid, msg, _id?}}`, for livechat rooms.
async fn chat_send_message(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let m = match o.get("message") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(LivechatError::invalid("message must be object")),
        None => {
            return Err(LivechatError::invalid(
                "must have required property 'message'",
            ))
        }
    };
    send(&req, &svc, &m, caller).await
}

async fn close_by_user(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let rid = req_str(&o, "rid")?;
    let comment = opt_str(&o, "comment")?;
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(LivechatError::invalid(
            "comment must NOT have more than 2000 characters",
        ));
    }
    caller.require_agent()?;
    let room = own_room(&svc, &caller, &rid).await?;
    svc.close_room(&room.id, Closer::User(caller.info.clone()), comment)
        .await?;
    Ok(ok(json!({})))
}

async fn forward(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let rid = req_str(&o, "roomId")?;
    let user = req_str(&o, "userId")?;
    let comment = opt_str(&o, "comment")?;
    caller.require_agent()?;
    let room = own_room(&svc, &caller, &rid).await?;
    if room.status == "closed" {
        return Err(LivechatError::coded(
            "error-room-already-closed",
            "This conversation is already closed",
        ));
    }
    let target = user
        .parse::<i64>()
        .map_err(|_| LivechatError::coded("error-invalid-agent", "Invalid agent"))?;
    ensure_agent(&svc, target).await?;
    if room.agent_id == Some(target) {
        return Err(LivechatError::coded(
            "error-same-agent",
            "The room is already served by this agent",
        ));
    }
    let svc = svc.into_inner();
    svc.assign(&room.id, target, Some(&caller.info)).await?;
    if let Some(c) = comment.filter(|c| !c.trim().is_empty()) {
        svc.system_message(
            &room.id,
            "livechat_transfer_history",
            &c,
            caller.info.short(),
        )
        .await;
    }
    Ok(ok(json!({})))
}

async fn set_status(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let status = req_str(&o, "status")?;
    let agent_id = opt_str(&o, "agentId")?;
    only_keys(&o, &["status", "agentId"])?;
    let status = match status.as_str() {
        "available" => "online".to_string(),
        "not-available" => "offline".to_string(),
        s if STATUSES.contains(&s) => s.to_string(),
        _ => {
            return Err(LivechatError::invalid(
                "must be equal to one of the allowed values",
            ))
        }
    };
    caller.require_agent()?;
    let agent = match agent_id {
        Some(a) if a != caller.info.id.to_string() => {
            caller.require_manager()?;
            a.parse::<i64>()
                .map_err(|_| LivechatError::coded("error-invalid-agent", "Invalid agent"))?
        }
        _ => caller.info.id,
    };
    ensure_agent(&svc, agent).await?;
    svc.into_inner().set_agent_status(agent, &status).await?;
    Ok(ok(json!({"status": status})))
}

async fn get_status(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    caller.require_agent()?;
    let status = svc.agent_status(caller.info.id).await?;
    Ok(ok(json!({"status": status})))
}

async fn visitors_info(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let vid = q.require("visitorId")?.to_string();
    caller.require_agent()?;
    let v = vid.clone();
    let visitor =
        svc.db()
            .read(move |c| rows::visitor(c, &v))
            .await?
            .ok_or(LivechatError::coded(
                "error-invalid-visitor",
                "Visitor not found",
            ))?;
    if !caller.staff.manager {
        let agent = caller.staff.user_id;
        let rooms = svc
            .db()
            .read(move |c| rows::room_ids_of_visitor(c, &vid))
            .await?;
        let mut serves = false;
        for rid in rooms {
            if let Some(r) = svc.room(&rid).await? {
                serves |= r.agent_id == Some(agent);
            }
        }
        if !serves {
            return Err(LivechatError::NotYours);
        }
    }
    Ok(ok(
        json!({"visitor": svc.visitor_json(&visitor, None).await?}),
    ))
}

async fn pages_visited(req: HttpRequest, svc: Svc, rid: web::Path<String>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    caller.require_agent()?;
    let room = own_room(&svc, &caller, &rid).await?;
    let vid = room.visitor_id.clone();
    let (pages, total) = svc
        .db()
        .read(move |c| rows::pages_of_visitor(c, &vid, offset, count))
        .await?;
    let pages: Vec<Value> = pages
        .iter()
        .map(|p| {
            json!({"msg": p.href, "t": "livechat_navigation_history", "ts": crate::livechat::iso(p.at_ms),
                   "navigation": {"page": {"title": p.title, "location": {"href": p.href}}}})
        })
        .collect();
    Ok(ok(
        json!({"pages": pages, "count": pages.len(), "offset": offset, "total": total}),
    ))
}

fn offline_json(m: &rows::OfflineRow) -> Value {
    json!({"_id": m.id, "name": m.name, "email": m.email, "message": m.message,
           "department": m.department, "host": m.host, "ts": m.created_at,
           "handled": m.handled, "handledBy": m.handled_by.map(|h| h.to_string()),
           "handledAt": m.handled_at, "mailed": m.mailed})
}

async fn offline_list(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    let handled = match q.get("handled") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(LivechatError::invalid("handled must be boolean")),
    };
    caller.require_agent()?;
    let (list, total) = svc
        .db()
        .read(move |c| rows::offline_list(c, handled, offset, count))
        .await?;
    let out: Vec<Value> = list.iter().map(offline_json).collect();
    Ok(ok(
        json!({"messages": out, "count": out.len(), "offset": offset, "total": total}),
    ))
}

async fn offline_handled(
    req: HttpRequest,
    svc: Svc,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let handled = if body.iter().all(u8::is_ascii_whitespace) {
        true
    } else {
        let o = object_body(&body)?;
        only_keys(&o, &["handled"])?;
        match o.get("handled") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(LivechatError::invalid("handled must be boolean")),
        }
    };
    caller.require_agent()?;
    let (id, by) = (id.into_inner(), caller.info.id);
    let at = handled.then(now_iso);
    let i = id.clone();
    let found = svc
        .db()
        .write(move |c| rows::mark_offline(c, &i, handled, handled.then_some(by), at.as_deref()))
        .await?;
    if !found {
        return Err(LivechatError::coded(
            "error-invalid-message",
            "Offline message not found",
        ));
    }
    let m = svc
        .db()
        .read(move |c| rows::offline(c, &id))
        .await?
        .ok_or(LivechatError::NotFound)?;
    Ok(ok(json!({"message": offline_json(&m)})))
}

fn role_of(kind: &str) -> Result<&'static str> {
    match kind {
        "agent" => Ok("agent"),
        "manager" => Ok("manager"),
        _ => Err(LivechatError::coded("error-invalid-type", "Invalid type")),
    }
}

async fn staff_entry(svc: &LivechatService, u: &users::User) -> Result<Value> {
    let id = u.id;
    let status = svc.agent_status(id).await?;
    let open = svc
        .db()
        .read(move |c| rows::open_rooms_of_agent(c, id))
        .await?
        .len() as i64;
    Ok(staff_json(u, &status, open))
}

async fn users_list(req: HttpRequest, svc: Svc, kind: web::Path<String>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    let role = role_of(&kind)?;
    caller.require_manager()?;
    let text = q.get("text").map(str::to_lowercase);
    let ids = svc
        .db()
        .read(move |c| rows::users_with_role(c, role))
        .await?;
    let mut matching = Vec::new();
    for (id, _) in ids {
        if let Some(u) = svc.db().read(move |c| users::get(c, id)).await? {
            let hit = text.as_ref().is_none_or(|t| {
                u.email.to_lowercase().contains(t) || u.name.to_lowercase().contains(t)
            });
            if hit {
                matching.push(u);
            }
        }
    }
    let total = matching.len();
    let mut out = Vec::new();
    for u in matching.iter().skip(offset as usize).take(count as usize) {
        out.push(staff_entry(&svc, u).await?);
    }
    Ok(ok(
        json!({"users": out, "count": out.len(), "offset": offset, "total": total}),
    ))
}

/// (rtbox) Agents an agent may forward to: every other agent with its status and load;
/// `?onlineOnly=true` keeps the online ones.
async fn agents_available(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let online_only = match q.get("onlineOnly") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(LivechatError::invalid("onlineOnly must be boolean")),
    };
    caller.require_agent()?;
    let ids = svc.db().read(|c| rows::users_with_role(c, "agent")).await?;
    let mut out = Vec::new();
    for (id, status) in ids {
        if id == caller.info.id || (online_only && status != "online") {
            continue;
        }
        if let Some(u) = svc.db().read(move |c| users::get(c, id)).await? {
            let e = staff_entry(&svc, &u).await?;
            out.push(
                json!({"_id": e["_id"], "username": e["username"], "name": e["name"],
                            "livechatStatus": e["livechatStatus"], "openChats": e["openChats"]}),
            );
        }
    }
    Ok(ok(json!({"users": out})))
}

/// Finds a user by email, id or exact name.
async fn find_user(svc: &LivechatService, who: &str) -> Result<Option<users::User>> {
    let w = who.trim().to_string();
    Ok(svc
        .db()
        .read(move |c| {
            if let Some(u) = users::by_email(c, &w.to_ascii_lowercase())? {
                return Ok(Some(u));
            }
            if let Ok(id) = w.parse::<i64>() {
                if let Some(u) = users::get(c, id)? {
                    return Ok(Some(u));
                }
            }
            let all = users::list(c, 0, 10_000)?;
            Ok(all.into_iter().find(|u| u.name == w))
        })
        .await?)
}

async fn users_add(
    req: HttpRequest,
    svc: Svc,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let username = req_str(&o, "username")?;
    only_keys(&o, &["username"])?;
    let role = role_of(&kind)?;
    caller.require_manager()?;
    let user = find_user(&svc, &username)
        .await?
        .ok_or(LivechatError::coded("error-invalid-user", "User not found"))?;
    let mut roles = user.roles.clone();
    if !roles.iter().any(|r| r == role) {
        roles.push(role.to_string());
    }
    let id = user.id;
    let user = svc
        .db()
        .write(move |c| {
            users::update(
                c,
                id,
                &users::UserChanges {
                    roles: Some(roles),
                    ..Default::default()
                },
            )
        })
        .await?;
    Ok(ok(json!({"user": staff_entry(&svc, &user).await?})))
}

async fn users_get(req: HttpRequest, svc: Svc, path: web::Path<(String, String)>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let (kind, id) = path.into_inner();
    let role = role_of(&kind)?;
    let own = id == caller.info.id.to_string();
    if !own {
        caller.require_manager()?;
    }
    let user = match id.parse::<i64>() {
        Ok(n) => svc.db().read(move |c| users::get(c, n)).await?,
        Err(_) => None,
    };
    let value = match user.filter(|u| u.has_role(role)) {
        Some(u) => staff_entry(&svc, &u).await?,
        None => Value::Null,
    };
    Ok(ok(json!({"user": value})))
}

async fn users_remove(
    req: HttpRequest,
    svc: Svc,
    path: web::Path<(String, String)>,
) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let (kind, id) = path.into_inner();
    let role = role_of(&kind)?;
    caller.require_manager()?;
    let user = match id.parse::<i64>() {
        Ok(n) => svc.db().read(move |c| users::get(c, n)).await?,
        Err(_) => None,
    };
    let Some(user) = user.filter(|u| u.has_role(role)) else {
        return Err(LivechatError::coded("error-invalid-user", "User not found"));
    };
    let roles: Vec<String> = user.roles.iter().filter(|r| *r != role).cloned().collect();
    let uid = user.id;
    svc.db()
        .write(move |c| {
            users::update(
                c,
                uid,
                &users::UserChanges {
                    roles: Some(roles),
                    ..Default::default()
                },
            )
        })
        .await?;
    if role == "agent" {
        let svc = svc.into_inner();
        svc.set_agent_status(uid, "offline").await?;
        svc.release_unanswered(uid, Unassign::Removed).await?;
        svc.process_queue().await?;
    }
    Ok(ok(json!({})))
}

fn kind_word(d: &lsettings::Def) -> &'static str {
    match d.kind {
        lsettings::Kind::Bool => "boolean",
        lsettings::Kind::Int => "int",
        lsettings::Kind::Text => "string",
        lsettings::Kind::OneOf(_) => "select",
    }
}

async fn appearance_get(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    caller.require_manager()?;
    let items: Vec<Value> = DEFS
        .iter()
        .filter(|d| d.appearance)
        .map(|d| json!({"_id": d.id, "value": svc.settings.get(d.id), "type": kind_word(d)}))
        .collect();
    Ok(ok(json!({"appearance": items})))
}

async fn appearance_set(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let list = match json_body(&body)? {
        Value::Array(items) => items,
        _ => return Err(LivechatError::invalid("must be array")),
    };
    if list.is_empty() {
        return Err(LivechatError::invalid("must NOT have fewer than 1 items"));
    }
    let mut changes = Vec::with_capacity(list.len());
    for item in &list {
        let o = item
            .as_object()
            .ok_or_else(|| LivechatError::invalid("must be object"))?;
        let id = req_str(o, "_id")?;
        let value = o
            .get("value")
            .cloned()
            .ok_or_else(|| LivechatError::invalid("must have required property 'value'"))?;
        only_keys(o, &["_id", "value"])?;
        let def = lsettings::def(&id)
            .filter(|d| d.appearance)
            .ok_or_else(|| LivechatError::invalid("must be equal to one of the allowed values"))?;
        changes.push((def, value));
    }
    caller.require_manager()?;
    svc.settings.set_many(changes).await?;
    Ok(ok(json!({})))
}

fn setting_def(id: &str) -> Result<&'static lsettings::Def> {
    lsettings::def(id).ok_or(LivechatError::coded(
        "error-setting-not-found",
        "Setting not found",
    ))
}

async fn setting_get(req: HttpRequest, svc: Svc, id: web::Path<String>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let def = setting_def(&id)?;
    caller.require_manager()?;
    let mut value = svc.settings.get(def.id);
    if def.secret {
        value = Value::String(String::new());
    }
    if def.id == lsettings::SECRET_TOKEN && !caller.admin {
        return Err(LivechatError::NoPermission);
    }
    Ok(ok(json!({"_id": def.id, "value": value})))
}

async fn setting_set(
    req: HttpRequest,
    svc: Svc,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let value = o
        .get("value")
        .cloned()
        .ok_or_else(|| LivechatError::invalid("must have required property 'value'"))?;
    let def = setting_def(&id)?;
    lsettings::coerce(def, &value)?;
    caller.require_manager()?;
    if def.id == lsettings::SECRET_TOKEN && !caller.admin {
        return Err(LivechatError::NoPermission);
    }
    svc.settings.set_many(vec![(def, value)]).await?;
    if def.id.starts_with("Livechat_rate_limit") {
        svc.limits.rebuild(&svc.settings);
    }
    if def.id == lsettings::ROUTING_METHOD && !svc.settings.manual_routing() {
        svc.into_inner().process_queue().await?;
    }
    Ok(ok(json!({})))
}
