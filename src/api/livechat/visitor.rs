//! Visitor routes (no login; the visitor token is the credential): config, visitor,
//! room, message, history, page.visited, visitor.event, agent.next/info, room.close,
//! offline.message, transcript. Each counts against the per-IP and per-token limits.

use actix_web::{web, HttpRequest};
use serde_json::{json, Value};

use super::{
    ip_limit, object_body, ok, only_keys, opt_str, req_str, token_limit, Query, Reply, Result, Svc,
};
use crate::livechat::mail::{self, Mail};
use crate::livechat::model::visitor_name;
use crate::livechat::rooms::Closer;
use crate::livechat::visitors::{validate_email, Registration, VisitorEvent};
use crate::livechat::{ids, now_iso, parse_date, LivechatError};
use crate::store::livechat::{self as rows, OfflineRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/config", web::get().to(config))
        .route("/visitor", web::post().to(register))
        .route("/visitor.event", web::post().to(visitor_event))
        .route("/visitor/{token}", web::get().to(get_visitor))
        .route("/visitor/{token}", web::delete().to(delete_visitor))
        .route("/room", web::get().to(room))
        .route("/message", web::post().to(message))
        .route("/messages.history/{rid}", web::get().to(history))
        .route("/page.visited", web::post().to(page_visited))
        .route("/agent.next/{token}", web::get().to(agent_next))
        .route("/agent.info/{rid}/{token}", web::get().to(agent_info))
        .route("/room.close", web::post().to(room_close))
        .route("/offline.message", web::post().to(offline_message))
        .route("/transcript", web::post().to(transcript));
}

async fn config(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let q = Query::of(&req);
    let mut quotas = ip_limit(&req, &svc)?;
    let s = &svc.settings;
    let limit = match s.message_limit() {
        Some(n) => json!(n),
        None => json!(false),
    };
    let triggers: Vec<Value> = svc
        .triggers()
        .iter()
        .filter(|t| t.row.enabled)
        .map(|t| t.public_json())
        .collect();
    let mut config = json!({
        "enabled": s.flag("Livechat_enabled"),
        "settings": {
            "registrationForm": s.flag("Livechat_registration_form"),
            "nameFieldRegistrationForm": s.flag("Livechat_name_field_registration_form"),
            "emailFieldRegistrationForm": s.flag("Livechat_email_field_registration_form"),
            "displayOfflineForm": s.flag("Livechat_display_offline_form"),
            "transcript": s.flag("Livechat_enable_transcript") && mail::configured(s),
            "showAgentInfo": s.flag("Livechat_show_agent_info"),
            "showAgentEmail": s.flag("Livechat_show_agent_email"),
            "limitTextLength": limit,
            "fileUpload": false,
            "videoCall": false,
            "allowSwitchingDepartments": false,
            "forceAcceptDataProcessingConsent": false,
            "hiddenSystemMessages": [],
            "hideWatermark": s.flag("Livechat_hide_watermark"),
        },
        "theme": {
            "title": s.text("Livechat_title"),
            "color": s.text("Livechat_title_color"),
            "offlineTitle": s.text("Livechat_offline_title"),
            "offlineColor": s.text("Livechat_offline_title_color"),
            "position": s.text("Livechat_widget_position"),
            "background": s.text("Livechat_background"),
            "actionLinks": [],
        },
        "messages": {
            "offlineMessage": s.text("Livechat_offline_message"),
            "offlineSuccessMessage": s.text("Livechat_offline_success_message"),
            "offlineUnavailableMessage": s.text("Livechat_offline_form_unavailable"),
            "conversationFinishedMessage": s.text("Livechat_conversation_finished_message"),
            "conversationFinishedText": s.text("Livechat_conversation_finished_text"),
            "transcriptMessage": s.text("Livechat_transcript_message"),
            "registrationFormMessage": s.text("Livechat_registration_form_message"),
        },
        "survey": {},
        "departments": [],
        "resources": {},
        "triggers": triggers,
        "online": svc.any_agent_online().await?,
    });
    if let Some(token) = q.get("token") {
        quotas = token_limit(&svc, token, quotas)?;
        // An unknown token is not an error here: the widget asks before registering.
        if let Ok(visitor) = svc.visitor_by_token(token).await {
            svc.remember_token(&visitor.id, token);
            config["guest"] = svc.visitor_json(&visitor, Some(token)).await?;
            let vid = visitor.id.clone();
            let open = svc
                .db()
                .read(move |c| rows::open_room_of_visitor(c, &vid))
                .await?;
            if let Some(room) = open {
                config["room"] = svc.room_json(&room, Some(token)).await?;
                if let Some(agent) = room.agent_id {
                    if let Some(a) = svc.agent_info(agent).await? {
                        config["agent"] = agent_json(&svc, &a);
                    }
                }
            }
        }
    }
    Ok(ok(json!({"config": config})).with(Some(quotas)))
}

fn agent_json(svc: &Svc, a: &crate::livechat::AgentInfo) -> Value {
    let mut out = json!({"_id": a.id.to_string(), "username": a.username, "name": a.name});
    if svc.settings.flag("Livechat_show_agent_email") {
        out["emails"] = json!([{"address": a.username}]);
    }
    out
}

async fn register(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let visitor = match o.get("visitor") {
        Some(serde_json::Value::Object(v)) => v.clone(),
        Some(_) => return Err(LivechatError::invalid("visitor must be object")),
        None => {
            return Err(LivechatError::invalid(
                "must have required property 'visitor'",
            ))
        }
    };
    let token = req_str(&visitor, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    only_keys(
        &visitor,
        &[
            "token",
            "name",
            "email",
            "department",
            "phone",
            "username",
            "customFields",
            "connectionData",
        ],
    )?;
    let mut custom_fields = Vec::new();
    match visitor.get("customFields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let f = item
                    .as_object()
                    .ok_or_else(|| LivechatError::invalid("customFields items must be object"))?;
                let key = req_str(f, "key")?;
                if key.is_empty() || key.len() > 64 {
                    return Err(LivechatError::invalid(
                        "customFields key must be 1-64 characters",
                    ));
                }
                let value = f.get("value").cloned().unwrap_or(Value::Null);
                if value.to_string().len() > 1024 {
                    return Err(LivechatError::invalid("customFields value is too long"));
                }
                let overwrite = f.get("overwrite").and_then(Value::as_bool).unwrap_or(true);
                custom_fields.push((key, value, overwrite));
            }
        }
        Some(_) => return Err(LivechatError::invalid("customFields must be array")),
    }
    let phone = match visitor.get("phone") {
        Some(Value::Object(p)) => opt_str(p, "number")?,
        _ => opt_str(&visitor, "phone")?,
    };
    let limit = |s: Option<String>, what: &str| -> Result<Option<String>> {
        match s {
            Some(s) if s.chars().count() > 256 => Err(LivechatError::invalid(format!(
                "{what} must NOT have more than 256 characters"
            ))),
            Some(s) if s.trim().is_empty() => Ok(None),
            other => Ok(other.map(|s| s.trim().to_string())),
        }
    };
    let reg = Registration {
        token: token.clone(),
        name: limit(opt_str(&visitor, "name")?, "name")?,
        email: limit(opt_str(&visitor, "email")?, "email")?,
        phone: limit(phone, "phone")?,
        department: limit(opt_str(&visitor, "department")?, "department")?,
        custom_fields,
    };
    let svc = svc.into_inner();
    let v = svc.register_visitor(reg).await?;
    svc.remember_token(&v.id, &token);
    Ok(ok(json!({"visitor": svc.visitor_json(&v, Some(&token)).await?})).with(Some(quotas)))
}

async fn get_visitor(req: HttpRequest, svc: Svc, token: web::Path<String>) -> Result<Reply> {
    let quotas = token_limit(&svc, &token, ip_limit(&req, &svc)?)?;
    let v = svc.visitor_by_token(&token).await?;
    Ok(ok(json!({"visitor": svc.visitor_json(&v, Some(&token)).await?})).with(Some(quotas)))
}

async fn delete_visitor(req: HttpRequest, svc: Svc, token: web::Path<String>) -> Result<Reply> {
    let quotas = token_limit(&svc, &token, ip_limit(&req, &svc)?)?;
    let v = svc.visitor_by_token(&token).await?;
    svc.erase_visitor(&v).await?;
    Ok(ok(json!({"visitor": {"_id": v.id, "ts": now_iso()}})).with(Some(quotas)))
}

async fn room(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let q = Query::of(&req);
    let ip = ip_limit(&req, &svc)?;
    let token = q.require("token")?.to_string();
    let quotas = token_limit(&svc, &token, ip)?;
    let svc = svc.into_inner();
    let visitor = svc.visitor_by_token(&token).await?;
    svc.remember_token(&visitor.id, &token);
    if let Some(rid) = q.get("rid") {
        let room = svc
            .room(rid)
            .await?
            .filter(|r| r.visitor_id == visitor.id && r.status != "closed")
            .ok_or(LivechatError::Failure("invalid-room"))?;
        let room = svc.room_json(&room, Some(&token)).await?;
        return Ok(ok(json!({"room": room, "newRoom": false})).with(Some(quotas)));
    }
    let wanted_agent = match q.get("agentId") {
        Some(a) => a.parse::<i64>().ok(),
        None => None,
    };
    let (room, created) = svc.open_room(&visitor, "widget", false, None).await?;
    if created {
        if let Some(agent) = wanted_agent {
            if svc.agent_is_online(agent).await? && room.status == "queued" {
                svc.assign(&room.id, agent, None).await?;
            }
        }
    }
    let room = svc.room(&room.id).await?.unwrap_or(room);
    let room = svc.room_json(&room, Some(&token)).await?;
    Ok(ok(json!({"room": room, "newRoom": created})).with(Some(quotas)))
}

async fn message(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let rid = req_str(&o, "rid")?;
    let msg = req_str(&o, "msg")?;
    let id = opt_str(&o, "_id")?;
    only_keys(&o, &["token", "rid", "msg", "_id", "agent"])?;
    let svc = svc.into_inner();
    let visitor = svc.visitor_by_token(&token).await?;
    let message = svc.visitor_message(&visitor, &rid, msg, id).await?;
    Ok(ok(json!({"message": message})).with(Some(quotas)))
}

async fn history(req: HttpRequest, svc: Svc, rid: web::Path<String>) -> Result<Reply> {
    let q = Query::of(&req);
    let ip = ip_limit(&req, &svc)?;
    let token = q.require("token")?.to_string();
    let quotas = token_limit(&svc, &token, ip)?;
    let visitor = svc.visitor_by_token(&token).await?;
    let room = svc
        .room(&rid)
        .await?
        .filter(|r| r.visitor_id == visitor.id)
        .ok_or(LivechatError::Failure("invalid-room"))?;
    let date = |key: &str| -> Result<Option<String>> {
        match q.get(key) {
            None => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .ok_or_else(|| LivechatError::invalid(format!("{key} must be a date"))),
        }
    };
    let (offset, count) = q.paging()?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| LivechatError::invalid("limit must be a number"))?
            .clamp(1, 100),
        None if q.get("count").is_some() => count,
        None => 20,
    };
    let messages = svc
        // Rocket.Chat: `end` bounds the page (older than it); `ls` is the visitor's last
        // seen time and filters nothing (it is still checked). `after` (rtbox): newer than.
        .history(
            &room.id,
            {
                date("ls")?;
                date("end")?
            },
            date("after")?,
            offset,
            limit,
        )
        .await?;
    Ok(ok(json!({"messages": messages})).with(Some(quotas)))
}

async fn page_visited(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let info = match o.get("pageInfo") {
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(LivechatError::invalid("pageInfo must be object")),
        None => {
            return Err(LivechatError::invalid(
                "must have required property 'pageInfo'",
            ))
        }
    };
    let href = info
        .get("location")
        .and_then(|l| l.get("href"))
        .cloned()
        .unwrap_or(Value::Null);
    let title = info.get("title").cloned().unwrap_or(json!(""));
    let change = opt_str(&info, "change")?.unwrap_or_else(|| "url".into());
    let data = json!({"href": href, "title": title});
    let svc = svc.into_inner();
    let visitor = svc.visitor_by_token(&token).await?;
    svc.remember_token(&visitor.id, &token);
    let event = VisitorEvent::parse("navigate", &data)?;
    svc.visitor_event(&visitor, event).await?;
    Ok(ok(json!({"page": {
        "msg": data["href"], "t": "livechat_navigation_history",
        "navigation": {"page": {"title": data["title"], "change": change, "location": {"href": data["href"]}}},
    }}))
    .with(Some(quotas)))
}

async fn visitor_event(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let event = req_str(&o, "event")?;
    only_keys(&o, &["token", "event", "data"])?;
    let data = o.get("data").cloned().unwrap_or(Value::Null);
    let event = VisitorEvent::parse(&event, &data)?;
    let svc = svc.into_inner();
    let visitor = svc.visitor_by_token(&token).await?;
    svc.remember_token(&visitor.id, &token);
    let fired = svc.visitor_event(&visitor, event).await?;
    Ok(ok(json!({"fired": fired})).with(Some(quotas)))
}

async fn agent_next(req: HttpRequest, svc: Svc, token: web::Path<String>) -> Result<Reply> {
    let quotas = token_limit(&svc, &token, ip_limit(&req, &svc)?)?;
    svc.visitor_by_token(&token).await?;
    let agent = svc.next_agent().await?.map(|a| agent_json(&svc, &a));
    Ok(ok(json!({"agent": agent})).with(Some(quotas)))
}

async fn agent_info(
    req: HttpRequest,
    svc: Svc,
    path: web::Path<(String, String)>,
) -> Result<Reply> {
    let (rid, token) = path.into_inner();
    let quotas = token_limit(&svc, &token, ip_limit(&req, &svc)?)?;
    let visitor = svc.visitor_by_token(&token).await?;
    let room = svc
        .room(&rid)
        .await?
        .filter(|r| r.visitor_id == visitor.id)
        .ok_or(LivechatError::Failure("invalid-room"))?;
    let agent = match room.agent_id {
        Some(a) => svc.agent_info(a).await?.map(|a| agent_json(&svc, &a)),
        None => None,
    };
    Ok(ok(json!({"agent": agent})).with(Some(quotas)))
}

async fn room_close(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let rid = req_str(&o, "rid")?;
    let visitor = svc.visitor_by_token(&token).await?;
    let room = svc
        .room(&rid)
        .await?
        .filter(|r| r.visitor_id == visitor.id)
        .ok_or(LivechatError::Failure("invalid-room"))?;
    if room.status == "closed" {
        return Err(LivechatError::Failure("room-closed"));
    }
    let comment = "Closed by visitor".to_string();
    svc.close_room(&room.id, Closer::Visitor, Some(comment.clone()))
        .await?;
    Ok(ok(json!({"rid": room.id, "comment": comment})).with(Some(quotas)))
}

async fn offline_message(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let quotas = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let name = req_str(&o, "name")?;
    let email = req_str(&o, "email")?;
    let message = req_str(&o, "message")?;
    only_keys(
        &o,
        &["name", "email", "message", "department", "host", "token"],
    )?;
    if name.trim().is_empty() || name.chars().count() > 256 {
        return Err(LivechatError::invalid("name must be 1-256 characters"));
    }
    validate_email(email.trim())?;
    if message.trim().is_empty() || message.chars().count() > 10_000 {
        return Err(LivechatError::invalid("message must be 1-10000 characters"));
    }
    let row = OfflineRow {
        id: ids::new_id(),
        name: name.trim().into(),
        email: email.trim().to_ascii_lowercase(),
        message,
        department: opt_str(&o, "department")?,
        host: opt_str(&o, "host")?,
        created_at: now_iso(),
        handled: false,
        handled_by: None,
        handled_at: None,
        mailed: false,
    };
    let r = row.clone();
    svc.db().write(move |c| rows::insert_offline(c, &r)).await?;
    let to = svc.settings.text("Livechat_offline_email");
    if !to.is_empty() && mail::configured(&svc.settings) {
        let svc2 = svc.clone().into_inner();
        // Stored first; the mail goes out in the background and is marked when sent.
        tokio::spawn(async move {
            let mail = Mail {
                to,
                subject: format!("Livechat offline message from {}", row.name),
                body: format!(
                    "From: {} <{}>\nPage: {}\n\n{}\n",
                    row.name,
                    row.email,
                    row.host.clone().unwrap_or_default(),
                    row.message
                ),
                reply_to: Some(row.email.clone()),
            };
            if mail::send(&svc2.settings, mail).await.is_ok() {
                let id = row.id.clone();
                let _ = svc2
                    .db()
                    .write(move |c| rows::mark_offline_mailed(c, &id))
                    .await;
            }
        });
    }
    Ok(
        ok(json!({"message": svc.settings.text("Livechat_offline_success_message")}))
            .with(Some(quotas)),
    )
}

async fn transcript(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let rid = req_str(&o, "rid")?;
    let email = req_str(&o, "email")?;
    validate_email(email.trim())?;
    let subject = opt_str(&o, "subject")?
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "Transcript of your livechat conversation".into());
    let visitor = svc.visitor_by_token(&token).await?;
    let room = svc
        .room(&rid)
        .await?
        .filter(|r| r.visitor_id == visitor.id)
        .ok_or(LivechatError::Failure("invalid-room"))?;
    if !mail::configured(&svc.settings) {
        return Err(LivechatError::coded(
            "error-smtp-not-configured",
            "SMTP is not configured",
        ));
    }
    let text = svc.transcript_text(&room).await?;
    let body = format!(
        "Hello {},\n\nhere is your conversation with {}:\n\n{}",
        visitor_name(&visitor),
        svc.settings.text("Livechat_title"),
        text
    );
    mail::send(
        &svc.settings,
        Mail {
            to: email.trim().into(),
            subject,
            body,
            reply_to: None,
        },
    )
    .await?;
    Ok(ok(json!({"message": "Livechat transcript sent"})).with(Some(quotas)))
}
