//! Xano's metadata API for realtime triggers — `/api:meta/workspace/{id}/realtime/
//! channel/trigger[/{trigger_id}]` — as a thin router over the trigger core: bodies are
//! XanoScript (`text/x-xanoscript`), objects and errors are Xano-shaped. rtbox has one
//! workspace, so any workspace id addresses it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::triggers::{
    apply_xanoscript, insert, is_xanoscript, new_fields, raw_body, remove, store_update,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::triggers::{self as store, Language, TriggerRecord};
use crate::store::Db;
use crate::triggers::TriggerService;

const BASE: &str = "/api:meta/workspace/{workspace_id}/realtime/channel/trigger";
/// Xano's name for a workspace's default branch.
const DEFAULT_BRANCH: &str = "v1";
const MAX_BRANCH: usize = 64;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(BASE)
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource(format!("{BASE}/{{trigger_id}}"))
            .route(web::get().to(detail))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    );
}

/// An error in Xano's `{"code": "ERROR_CODE_…", "message": …}` shape.
#[derive(Debug)]
pub struct MetaError(ApiError);

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ApiError> for MetaError {
    fn from(e: ApiError) -> MetaError {
        MetaError(e)
    }
}

impl From<crate::store::StoreError> for MetaError {
    fn from(e: crate::store::StoreError) -> MetaError {
        MetaError(e.into())
    }
}

impl ResponseError for MetaError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = match status {
            StatusCode::BAD_REQUEST => "ERROR_CODE_INPUT_ERROR",
            StatusCode::UNAUTHORIZED => "ERROR_CODE_UNAUTHORIZED",
            StatusCode::FORBIDDEN => "ERROR_CODE_ACCESS_DENIED",
            StatusCode::NOT_FOUND => "ERROR_CODE_NOT_FOUND",
            StatusCode::TOO_MANY_REQUESTS => "ERROR_CODE_TOO_MANY_REQUESTS",
            StatusCode::CONFLICT | StatusCode::PAYLOAD_TOO_LARGE => "ERROR_CODE_BAD_REQUEST",
            _ => "ERROR_FATAL",
        };
        let (message, payload) = match &self.0 {
            ApiError::Field { field, reason } => (reason.clone(), json!({"param": field})),
            ApiError::NotFound => ("Not Found.".to_string(), Value::Null),
            ApiError::Internal(_) => ("Internal server error.".to_string(), Value::Null),
            other => (other.to_string(), Value::Null),
        };
        HttpResponse::build(status)
            .json(json!({"code": code, "message": message, "payload": payload}))
    }
}

type MetaResult<T> = Result<T, MetaError>;

#[derive(Deserialize)]
struct MetaQuery {
    #[serde(default)]
    include_xanoscript: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

impl MetaQuery {
    fn include_xanoscript(&self) -> MetaResult<bool> {
        match self.include_xanoscript.as_deref() {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(ApiError::field("include_xanoscript", "Must be true or false.").into()),
        }
    }

    fn branch(&self) -> MetaResult<String> {
        let b = self.branch.as_deref().unwrap_or("").trim();
        if b.len() > MAX_BRANCH || b.chars().any(|c| c.is_control()) {
            return Err(
                ApiError::field("branch", format!("At most {MAX_BRANCH} characters.")).into(),
            );
        }
        Ok(b.to_string())
    }
}

fn parse_query(req: &HttpRequest) -> MetaResult<MetaQuery> {
    web::Query::<MetaQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::bad_request(format!("Invalid query parameters - {e}")).into())
}

fn ids(req: &HttpRequest) -> MetaResult<(i64, Option<i64>)> {
    let parse = |name: &str| -> MetaResult<Option<i64>> {
        match req.match_info().get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| ApiError::field(name, "Must be a positive integer.").into()),
        }
    };
    let ws = parse("workspace_id")?.ok_or(MetaError(ApiError::NotFound))?;
    Ok((ws, parse("trigger_id")?))
}

fn admin(caller: Result<Caller, ApiError>) -> MetaResult<()> {
    caller?.require_admin()?;
    Ok(())
}

/// `2023-04-19 21:01:32+0000`, the timestamp format of Xano's metadata API.
fn xano_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S+0000")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// The seed's object: `id, created_at, updated_at, name, description, guid, branch, tag,
/// actions` and, when asked, `xanoscript {status, value, message}`.
fn object(r: &TriggerRecord, include_xanoscript: bool) -> Value {
    let mut actions = json!({"message": r.actions.message, "join": r.actions.join});
    if r.actions.leave {
        actions["leave"] = json!(true);
    }
    let mut o = json!({
        "id": r.id,
        "created_at": xano_time(&r.created_at),
        "updated_at": xano_time(&r.updated_at),
        "name": r.name,
        "description": r.description,
        "guid": r.guid,
        "branch": if r.branch.is_empty() { DEFAULT_BRANCH } else { r.branch.as_str() },
        "tag": r.tag,
        "actions": actions,
    });
    if include_xanoscript {
        o["xanoscript"] = match r.language {
            Language::XanoScript => json!({"status": "ok", "value": r.script, "message": ""}),
            Language::Rhai => json!({
                "status": "error",
                "value": "",
                "message": "This trigger is written in Rhai; it has no XanoScript source.",
            }),
        };
    }
    o
}

fn source(req: &HttpRequest, body: &[u8]) -> MetaResult<String> {
    if !is_xanoscript(req) {
        return Err(ApiError::bad_request(
            "The body must be XanoScript with Content-Type: text/x-xanoscript.",
        )
        .into());
    }
    String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::field("xanoscript", "The XanoScript source must be UTF-8 text.").into()
    })
}

fn branch_matches(r: &TriggerRecord, branch: &str) -> bool {
    branch.is_empty() || r.branch == branch || (r.branch.is_empty() && branch == DEFAULT_BRANCH)
}

async fn list(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    db: web::Data<Db>,
) -> MetaResult<HttpResponse> {
    admin(caller)?;
    ids(&req)?;
    let q = parse_query(&req)?;
    let (include, branch) = (q.include_xanoscript()?, q.branch()?);
    let per_page = q.per_page.unwrap_or(50).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let all: Vec<TriggerRecord> = db
        .read(store::list)
        .await?
        .into_iter()
        .filter(|r| branch_matches(r, &branch))
        .collect();
    let total = all.len() as i64;
    let offset = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = all
        .iter()
        .skip(offset as usize)
        .take(per_page as usize)
        .map(|r| object(r, include))
        .collect();
    let page_total = (total + per_page - 1) / per_page;
    Ok(HttpResponse::Ok().json(json!({
        "itemsReceived": items.len(),
        "curPage": page,
        "nextPage": if page < page_total { Some(page + 1) } else { None },
        "prevPage": if page > 1 { Some(page - 1) } else { None },
        "offset": offset,
        "perPage": per_page,
        "itemsTotal": total,
        "pageTotal": page_total,
        "items": items,
    })))
}

async fn create(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    body: Result<web::Bytes, actix_web::Error>,
) -> MetaResult<HttpResponse> {
    admin(caller)?;
    let body = raw_body(body)?;
    ids(&req)?;
    let q = parse_query(&req)?;
    let include = q.include_xanoscript()?;
    let mut fields = new_fields();
    fields.branch = q.branch()?;
    apply_xanoscript(&triggers, &mut fields, &source(&req, &body)?)?;
    let record = insert(&db, &triggers, fields).await?;
    Ok(HttpResponse::Ok().json(object(&record, include)))
}

async fn load(db: &Db, id: i64, branch: &str) -> MetaResult<TriggerRecord> {
    let r = db.read(move |c| store::get(c, id)).await?;
    if !branch_matches(&r, branch) {
        return Err(MetaError(ApiError::NotFound));
    }
    Ok(r)
}

async fn detail(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    db: web::Data<Db>,
) -> MetaResult<HttpResponse> {
    admin(caller)?;
    let (_, id) = ids(&req)?;
    let q = parse_query(&req)?;
    let r = load(&db, id.unwrap_or_default(), &q.branch()?).await?;
    Ok(HttpResponse::Ok().json(object(&r, q.include_xanoscript()?)))
}

async fn update(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
    body: Result<web::Bytes, actix_web::Error>,
) -> MetaResult<HttpResponse> {
    admin(caller)?;
    let body = raw_body(body)?;
    let (_, id) = ids(&req)?;
    let id = id.unwrap_or_default();
    let q = parse_query(&req)?;
    let include = q.include_xanoscript()?;
    let current = load(&db, id, &q.branch()?).await?;
    let mut fields = current.fields();
    apply_xanoscript(&triggers, &mut fields, &source(&req, &body)?)?;
    let record = store_update(&db, &triggers, id, fields).await?;
    Ok(HttpResponse::Ok().json(object(&record, include)))
}

async fn delete(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    db: web::Data<Db>,
    triggers: web::Data<TriggerService>,
) -> MetaResult<HttpResponse> {
    admin(caller)?;
    let (_, id) = ids(&req)?;
    let id = id.unwrap_or_default();
    let q = parse_query(&req)?;
    load(&db, id, &q.branch()?).await?;
    remove(&db, &triggers, id).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
