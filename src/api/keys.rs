//! API keys (admin), the client-token secret, and client-token minting for backends.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::jwt::ClientClaims;
use crate::auth::{AuthService, Caller, KEY_ROLES};
use crate::error::{ApiError, ApiResult};
use crate::store::{keys, Db};

/// Longest client token lifetime `POST /api/v1/tokens` will mint (30 days).
const MAX_TOKEN_TTL: i64 = 30 * 24 * 3600;
const DEFAULT_TOKEN_TTL: i64 = 3600;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/api/v1/keys/{id}", web::delete().to(delete))
    .route(
        "/api/v1/client-secret/rotate",
        web::post().to(rotate_secret),
    )
    .route("/api/v1/tokens", web::post().to(mint_token));
}

async fn list(caller: Caller, db: web::Data<Db>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let rows = db.read(keys::list).await?;
    Ok(HttpResponse::Ok().json(json!({"objects": rows, "next": null, "prev": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "publish".into()
}

async fn create(
    caller: Caller,
    auth: web::Data<AuthService>,
    body: web::Json<CreateKey>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::field(
            "name",
            "Ensure this field has 1 to 128 characters.",
        ));
    }
    if !KEY_ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::field(
            "role",
            format!("\"{}\" is not a valid choice (admin, publish).", body.role),
        ));
    }
    let (record, key) = auth.create_key(name, &body.role).await?;
    tracing::info!(key_id = record.id, role = %record.role, "api key created");
    Ok(HttpResponse::Created().json(json!({
        "id": record.id, "name": record.name, "role": record.role,
        "prefix": record.prefix, "created_at": record.created_at, "key": key
    })))
}

async fn delete(
    caller: Caller,
    auth: web::Data<AuthService>,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    auth.delete_key(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate_secret(caller: Caller, auth: web::Data<AuthService>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let secret = auth.rotate_client_secret().await?;
    tracing::warn!("client-token secret rotated; earlier client tokens no longer verify");
    Ok(HttpResponse::Ok().json(json!({"secret": secret})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintToken {
    sub: Value,
    channels: Option<Vec<String>>,
    info: Option<Value>,
    ttl_seconds: Option<i64>,
}

async fn mint_token(
    caller: Caller,
    auth: web::Data<AuthService>,
    body: web::Json<MintToken>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.is_server_publisher())?;
    let body = body.into_inner();
    let sub = match body.sub {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 256 => s,
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::field(
                "sub",
                "A non-empty string of at most 256 characters is required.",
            ))
        }
    };
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL);
    if !(1..=MAX_TOKEN_TTL).contains(&ttl) {
        return Err(ApiError::field(
            "ttl_seconds",
            format!("Must be between 1 and {MAX_TOKEN_TTL}."),
        ));
    }
    if let Some(chs) = &body.channels {
        if chs.iter().any(|c| c.is_empty() || c.len() > 65) {
            return Err(ApiError::field(
                "channels",
                "Each entry must be a channel name or prefix* pattern.",
            ));
        }
    }
    if body.info.as_ref().is_some_and(|i| !i.is_object()) {
        return Err(ApiError::field("info", "Must be an object."));
    }
    let now = chrono::Utc::now().timestamp();
    let claims = ClientClaims {
        sub,
        exp: now + ttl,
        iat: Some(now),
        channels: body
            .channels
            .map(|v| v.into_iter().map(|c| c.to_ascii_lowercase()).collect()),
        info: body.info,
    };
    let token = auth
        .mint_client_token(&claims)
        .map_err(ApiError::Internal)?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    Ok(HttpResponse::Created().json(json!({"token": token, "expires_at": expires_at})))
}
