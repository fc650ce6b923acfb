//! Rocket.Chat's livechat routes (`/api/v1/livechat/*`, `settings/{id}`,
//! `chat.sendMessage`): thin handlers over `crate::livechat`, and the one place where a
//! `LivechatError` becomes a Rocket.Chat error body `{success: false, error, errorType?}`.

mod agent;
mod triggers;
mod visitor;

use std::collections::HashMap;

use actix_web::body::BoxBody;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse, Responder, ResponseError};
use serde_json::{json, Map, Value};

use crate::auth::extract::{client_ip, credentials};
use crate::auth::{AuthService, Principal};
use crate::channels::message::Author;
use crate::channels::{Actor, Staff};
use crate::livechat::settings::{Quotas, Scope};
use crate::livechat::{AgentInfo, LivechatError, LivechatService};

pub type Svc = web::Data<LivechatService>;
pub type Result<T> = std::result::Result<T, LivechatError>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/livechat")
            .wrap(from_fn(cors))
            .configure(visitor::configure)
            .configure(agent::configure)
            .configure(triggers::configure)
            .route(
                "/{tail:.*}",
                web::method(actix_web::http::Method::OPTIONS).to(preflight),
            )
            .default_service(web::to(not_found)),
    );
    agent::configure_outside(cfg);
}

// ---- errors ----------------------------------------------------------------------------

impl ResponseError for LivechatError {
    fn status_code(&self) -> StatusCode {
        match self {
            LivechatError::Unauthenticated => StatusCode::UNAUTHORIZED,
            LivechatError::NoPermission | LivechatError::NotYours => StatusCode::FORBIDDEN,
            LivechatError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            LivechatError::NotFound => StatusCode::NOT_FOUND,
            LivechatError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LivechatError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            LivechatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            LivechatError::Store(crate::error::StoreError::WriterGone) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            LivechatError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        let body = match self {
            LivechatError::InvalidParams(_) => {
                json!({"success": false, "error": self.to_string(), "errorType": "invalid-params"})
            }
            LivechatError::Coded { code, .. } => {
                json!({"success": false, "error": self.to_string(), "errorType": code})
            }
            LivechatError::Unauthenticated => json!({
                "success": false, "status": "error",
                "message": self.to_string(), "error": self.to_string(),
            }),
            LivechatError::RateLimited {
                wait_secs,
                limit,
                reset_ms,
            } => {
                builder
                    .insert_header(("X-RateLimit-Limit", limit.to_string()))
                    .insert_header(("X-RateLimit-Remaining", "0"))
                    .insert_header(("X-RateLimit-Reset", reset_ms.to_string()))
                    .insert_header((header::RETRY_AFTER, wait_secs.max(&1).to_string()));
                json!({"success": false, "error": self.to_string()})
            }
            LivechatError::ExternalService(body) => body.clone(),
            LivechatError::Store(e) => {
                tracing::error!(error = %e, "livechat storage error");
                json!({"success": false, "error": "Internal server error"})
            }
            LivechatError::Internal(e) => {
                tracing::error!(error = %e, "livechat internal error");
                json!({"success": false, "error": "Internal server error"})
            }
            other => json!({"success": false, "error": other.to_string()}),
        };
        builder.json(body)
    }
}

/// A success body (`success: true` added) with the `X-RateLimit-*` headers of the check
/// that let the request through.
pub struct Reply {
    body: Value,
    quotas: Option<Quotas>,
}

pub fn ok(body: Value) -> Reply {
    Reply { body, quotas: None }
}

impl Reply {
    pub fn with(mut self, quotas: Option<Quotas>) -> Reply {
        self.quotas = quotas;
        self
    }
}

impl Responder for Reply {
    type Body = BoxBody;

    fn respond_to(mut self, _req: &HttpRequest) -> HttpResponse {
        if let Value::Object(o) = &mut self.body {
            o.insert("success".into(), Value::Bool(true));
        }
        let mut builder = HttpResponse::Ok();
        if let Some(q) = self.quotas {
            builder
                .insert_header(("X-RateLimit-Limit", q.limit.to_string()))
                .insert_header(("X-RateLimit-Remaining", q.remaining.to_string()))
                .insert_header(("X-RateLimit-Reset", q.reset_ms.to_string()));
        }
        builder.json(self.body)
    }
}

async fn not_found() -> HttpResponse {
    LivechatError::NotFound.error_response()
}

// ---- CORS (the widget calls from the customer's origin, without credentials) --------------

async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Content-Type, X-Auth-Token, X-User-Id, Authorization",
        ))
        .insert_header(("Access-Control-Max-Age", "86400"))
        .finish()
}

async fn cors(
    req: actix_web::dev::ServiceRequest,
    next: Next<impl actix_web::body::MessageBody>,
) -> std::result::Result<
    actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
    actix_web::Error,
> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::HeaderValue::from_static(
            "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
        ),
    );
    Ok(res)
}

// ---- input ---------------------------------------------------------------------------

/// A JSON object body, or `invalid-params`.
pub fn object_body(body: &[u8]) -> Result<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(LivechatError::invalid("must be object"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(LivechatError::invalid("must be object")),
        Err(e) => Err(LivechatError::invalid(format!("JSON parse error - {e}"))),
    }
}

pub fn json_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice::<Value>(body)
        .map_err(|e| LivechatError::invalid(format!("JSON parse error - {e}")))
}

/// A required string field (numbers are coerced, as Rocket.Chat's validator does).
pub fn req_str(o: &Map<String, Value>, key: &str) -> Result<String> {
    match o.get(key) {
        None => Err(LivechatError::invalid(format!(
            "must have required property '{key}'"
        ))),
        Some(v) => str_value(v, key),
    }
}

fn str_value(v: &Value, key: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(LivechatError::invalid(format!("{key} must be string"))),
    }
}

pub fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => str_value(v, key).map(Some),
    }
}

pub fn only_keys(o: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(_) => Err(LivechatError::invalid(
            "must NOT have additional properties",
        )),
        None => Ok(()),
    }
}

/// Query parameters, `key[]` folded into `key`, every value kept.
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn of(req: &HttpRequest) -> Query {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            let k = k.trim_end_matches("[]").to_string();
            map.entry(k).or_default().push(v.into_owned());
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.get(key).cloned().unwrap_or_default()
    }

    pub fn require(&self, key: &str) -> Result<&str> {
        self.get(key)
            .ok_or_else(|| LivechatError::invalid(format!("must have required property '{key}'")))
    }

    fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| LivechatError::invalid(format!("{key} must be a number"))),
        }
    }

    /// Rocket.Chat paging: `offset` (default 0) and `count` (default 50, at most 100).
    pub fn paging(&self) -> Result<(i64, i64)> {
        let offset = self.int("offset")?.unwrap_or(0).max(0);
        let count = self.int("count")?.unwrap_or(50).clamp(1, 100);
        Ok((offset, count))
    }
}

// ---- who is calling --------------------------------------------------------------------

/// A logged-in dashboard user (or admin API key) on a livechat route.
pub struct StaffCaller {
    pub actor: Actor,
    pub staff: Staff,
    pub info: AgentInfo,
    pub admin: bool,
}

impl StaffCaller {
    /// `view-livechat-manager`: admins and managers.
    pub fn require_manager(&self) -> Result<()> {
        if self.staff.manager {
            Ok(())
        } else {
            Err(LivechatError::NoPermission)
        }
    }

    /// The inbox: agents, managers, admins.
    pub fn require_agent(&self) -> Result<()> {
        if self.staff.agent || self.staff.manager {
            Ok(())
        } else {
            Err(LivechatError::NoPermission)
        }
    }
}

/// Authenticates the request (Rocket.Chat's 401 body for none or bad credentials) and
/// counts it against the caller's rate limit.
pub async fn staff(req: &HttpRequest, svc: &LivechatService) -> Result<StaffCaller> {
    let auth = req
        .app_data::<web::Data<AuthService>>()
        .ok_or_else(|| LivechatError::Internal("auth service missing".into()))?;
    let caller = auth
        .authenticate(credentials(req))
        .await
        .map_err(|_| LivechatError::Unauthenticated)?;
    let (actor, staff, info, admin) = match &caller.principal {
        Principal::User(u) => {
            let admin = u.has_role("admin");
            let actor = Actor::from_caller(&caller, "");
            let staff = Staff {
                user_id: u.id,
                agent: u.has_role("agent"),
                manager: admin || u.has_role("manager"),
            };
            let info = AgentInfo {
                id: u.id,
                username: u.email.clone(),
                name: u.name.clone(),
            };
            (actor, staff, info, admin)
        }
        Principal::ApiKey(k) if k.role == "admin" => (
            Actor::Admin(Author::ApiKey(k.id)),
            Staff {
                user_id: 0,
                agent: false,
                manager: true,
            },
            AgentInfo {
                id: 0,
                username: format!("api-key-{}", k.id),
                name: k.name.clone(),
            },
            true,
        ),
        Principal::Anonymous => return Err(LivechatError::Unauthenticated),
        _ => return Err(LivechatError::NoPermission),
    };
    svc.limits.check(Scope::User, &format!("u{}", info.id))?;
    Ok(StaffCaller {
        actor,
        staff,
        info,
        admin,
    })
}

/// Counts a visitor request against the per-IP limit.
pub fn ip_limit(req: &HttpRequest, svc: &LivechatService) -> Result<Quotas> {
    svc.limits.check(Scope::Ip, &client_ip(req))
}

/// Counts a visitor request against its token's limit; returns the tighter quotas.
pub fn token_limit(svc: &LivechatService, token: &str, ip: Quotas) -> Result<Quotas> {
    let t = svc.limits.check(Scope::Token, token)?;
    Ok(if t.remaining <= ip.remaining { t } else { ip })
}
