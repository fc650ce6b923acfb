//! `/api/v1/triggers`: realtime trigger CRUD (admin), the test runner and the run log.
//! Objects follow the Xano metadata API shapes; every change reloads the in-memory
//! registry the channels pipeline reads.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{offset_page, OffsetQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::triggers::{self as store, Actions, TriggerFields, TriggerRecord};
use crate::store::Db;
use crate::triggers::registry::record_matches_filter;
use crate::triggers::{ClientContext, TriggerAction, TriggerInput, TriggerService};

const MAX_NAME: usize = 128;
const MAX_DESCRIPTION: usize = 2000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 64;
/// Fields the API writes itself; clients may send them back unchanged and they are ignored.
const READ_ONLY: [&str; 5] = ["id", "guid", "created_at", "updated_at", "links"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/triggers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/api/v1/triggers/{id}")
            .route(web::get().to(detail))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    )
    .route("/api/v1/triggers/{id}/test", web::post().to(test))
    .route("/api/v1/triggers/{id}/runs", web::get().to(runs));
}

fn new_guid() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request(
            "JSON parse error - expected an object",
        )),
    }
}

/// A trigger's `channel`: a channel name, a `prefix/*` (or `prefix*`) pattern, or `*`.
fn valid_channel(raw: &str) -> Option<String> {
    crate::channels::model::validate_channel_filter(raw).ok()
}

fn string_field(value: &Value, field: &str, max: usize, allow_empty: bool) -> ApiResult<String> {
    let s = value
        .as_str()
        .ok_or_else(|| ApiError::field(field, "Must be a string."))?
        .trim();
    if (!allow_empty && s.is_empty()) || s.chars().count() > max {
        let min = if allow_empty { 0 } else { 1 };
        return Err(ApiError::field(
            field,
            format!("Ensure this field has {min} to {max} characters."),
        ));
    }
    Ok(s.to_string())
}

fn bool_field(value: &Value, field: &str) -> ApiResult<bool> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::field(field, "Must be a boolean."))
}

/// Applies the fields present in `body` onto `f`; `create` says which are required.
fn apply_fields(
    triggers: &TriggerService,
    f: &mut TriggerFields,
    body: Map<String, Value>,
    create: bool,
) -> ApiResult<()> {
    if create {
        for required in ["name", "channel", "script"] {
            if !body.contains_key(required) {
                return Err(ApiError::field(required, "This field is required."));
            }
        }
    }
    for (key, value) in body {
        match key.as_str() {
            "name" => f.name = string_field(&value, "name", MAX_NAME, false)?,
            "description" => {
                f.description = if value.is_null() {
                    String::new()
                } else {
                    string_field(&value, "description", MAX_DESCRIPTION, true)?
                }
            }
            "channel" => {
                let raw = value
                    .as_str()
                    .ok_or_else(|| ApiError::field("channel", "Must be a string."))?;
                f.channel = valid_channel(raw).ok_or_else(|| {
                    ApiError::field(
                        "channel",
                        "Must be a channel name (letters, digits, -, _, ., /; at most 64), a prefix/* pattern, or *.",
                    )
                })?;
            }
            "active" => f.active = bool_field(&value, "active")?,
            "tag" => {
                let tags = match value {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items,
                    _ => return Err(ApiError::field("tag", "Must be a list of strings.")),
                };
                if tags.len() > MAX_TAGS {
                    return Err(ApiError::field("tag", format!("At most {MAX_TAGS} tags.")));
                }
                let mut out: Vec<String> = Vec::new();
                for t in &tags {
                    let t = string_field(t, "tag", MAX_TAG, false)?;
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                f.tag = out;
            }
            "actions" => {
                let Value::Object(actions) = value else {
                    return Err(ApiError::field("actions", "Must be an object like {\"message\": true, \"join\": false, \"leave\": false}."));
                };
                for (name, v) in actions {
                    let on = v.as_bool().ok_or_else(|| {
                        ApiError::field("actions", format!("\"{name}\" must be a boolean."))
                    })?;
                    match name.as_str() {
                        "message" => f.actions.message = on,
                        "join" => f.actions.join = on,
                        "leave" => f.actions.leave = on,
                        other => {
                            return Err(ApiError::field(
                                "actions",
                                format!("Unknown action \"{other}\" (message, join, leave)."),
                            ))
                        }
                    }
                }
            }
            "script" => {
                let script = value
                    .as_str()
                    .ok_or_else(|| ApiError::field("script", "Must be a string."))?;
                triggers
                    .compile(script)
                    .map_err(|e| ApiError::field("script", e.to_string()))?;
                f.script = script.to_string();
            }
            k if READ_ONLY.contains(&k) => {}
            other => return Err(ApiError::field(other, "Unknown field.")),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ListQuery {
    channel: Option<String>,
    tag: Option<String>,
    offset: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    caller: Caller,
    req: HttpRequest,
    db: web::Data<Db>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let q = q.into_inner();
    let all = db.read(store::list).await?;
    let channel = q.channel.map(|c| c.trim().to_ascii_lowercase());
    let rows: Vec<TriggerRecord> = all
        .into_iter()
        .filter(|r| {
            channel
                .as_deref()
                .is_none_or(|c| record_matches_filter(r, c))
        })
        .filter(|r| {
            q.tag
                .as_deref()
                .is_none_or(|t| r.tag.iter().any(|x| x == t))
        })
        .collect();
    let (offset, limit) = OffsetQuery {
        offset: q.offset,
        page_size: q.page_size,
    }
    .window();
    let page: Vec<TriggerRecord> = rows
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize + 1)
        .collect();
    Ok(HttpResponse::Ok().json(offset_page(&req, page, offset, limit)))
}

async fn create(
    caller: Caller,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let body = body_object(body.into_inner())?;
    let mut fields = TriggerFields {
        name: String::new(),
        description: String::new(),
        channel: String::new(),
        active: true,
        tag: Vec::new(),
        actions: Actions::default(),
        script: String::new(),
    };
    apply_fields(&triggers, &mut fields, body, true)?;
    let guid = new_guid();
    let record = db.write(move |c| store::insert(c, &guid, &fields)).await?;
    triggers.reload().await?;
    tracing::info!(trigger_id = record.id, channel = %record.channel, "trigger created");
    Ok(HttpResponse::Created().json(record))
}

async fn detail(caller: Caller, db: web::Data<Db>, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let record = db.read(move |c| store::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(record))
}

async fn update(
    caller: Caller,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let body = body_object(body.into_inner())?;
    let current = db.read(move |c| store::get(c, id)).await?;
    let mut fields = current.fields();
    apply_fields(&triggers, &mut fields, body, false)?;
    let record = db.write(move |c| store::update(c, id, &fields)).await?;
    triggers.reload().await?;
    tracing::info!(trigger_id = id, "trigger updated");
    Ok(HttpResponse::Ok().json(record))
}

async fn delete(
    caller: Caller,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    db.write(move |c| store::delete(c, id)).await?;
    triggers.reload().await?;
    tracing::info!(trigger_id = id, "trigger deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestClient {
    #[serde(rename = "socketId", alias = "socket_id", default)]
    socket_id: Option<String>,
    #[serde(default)]
    extras: Value,
    #[serde(default)]
    permissions: Value,
    #[serde(default)]
    authenticated: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestInput {
    action: Option<String>,
    channel: Option<String>,
    room: Option<String>,
    #[serde(default)]
    payload: Value,
    client: Option<TestClient>,
    #[serde(default)]
    allow_http: bool,
}

/// A concrete channel to test a trigger on when the sample names none.
fn sample_channel(trigger_channel: &str) -> String {
    if trigger_channel == "*" {
        "test".into()
    } else if let Some(prefix) = trigger_channel.strip_suffix('*') {
        format!("{prefix}test")
    } else {
        trigger_channel.to_string()
    }
}

async fn test(
    caller: Caller,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let record = db.read(move |c| store::get(c, id)).await?;
    let input: TestInput =
        serde_json::from_value(body.into_inner()).map_err(|e| super::serde_error(&e))?;
    let action = match input.action.as_deref() {
        None if !record.actions.message && record.actions.join => TriggerAction::Join,
        None if !record.actions.message && !record.actions.join && record.actions.leave => {
            TriggerAction::Leave
        }
        None | Some("message") => TriggerAction::Message,
        Some("join") => TriggerAction::Join,
        Some("leave") => TriggerAction::Leave,
        Some(_) => {
            return Err(ApiError::field(
                "action",
                "Must be one of message, join, leave.",
            ))
        }
    };
    let channel = match input.channel {
        Some(c) => valid_channel(&c)
            .filter(|c| !c.contains('*'))
            .ok_or_else(|| ApiError::field("channel", "Must be a channel name."))?,
        None => sample_channel(&record.channel),
    };
    let client = input.client.map_or_else(
        || ClientContext {
            socket_id: "test".into(),
            ..ClientContext::default()
        },
        |c| ClientContext {
            socket_id: c.socket_id.unwrap_or_else(|| "test".into()),
            extras: c.extras,
            permissions: c.permissions,
            authenticated: c.authenticated,
        },
    );
    let trigger_input = TriggerInput {
        action,
        channel: channel.clone(),
        room: input.room.map(|r| r.to_ascii_lowercase()),
        payload: input.payload,
        client,
    };
    let report = triggers
        .test_run(&record, trigger_input, input.allow_http)
        .await;
    let kv: Map<String, Value> = report
        .kv_writes
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(Value::Null)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "output": report.output,
        "outcome": report.outcome,
        "reason": report.reason,
        "effects": report.effects.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "logs": report.logs,
        "kv_writes": kv,
        "duration_ms": report.duration.as_secs_f64() * 1000.0,
        "error": report.error,
        "action": action.as_str(),
        "channel": channel,
    })))
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<i64>,
}

async fn runs(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<i64>,
    q: web::Query<RunsQuery>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let limit = q.limit.unwrap_or(50).clamp(1, store::RUNS_KEPT);
    let rows = db
        .read(move |c| {
            store::get(c, id)?;
            store::list_runs(c, id, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"objects": rows, "next": null, "prev": null})))
}
