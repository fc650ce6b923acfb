//! HTTP handlers by resource. Handlers are thin: parse, call the domain, map the result.
//! `configure` mounts every route; body/query/path parse errors become `{"detail": …}`.

pub mod admin;
pub mod auth;
pub mod channel_routes;
pub mod channels;
pub mod errors;
pub mod keys;
pub mod livechat;
pub mod ops;
pub mod ratelimit;
pub mod syncano;
pub mod triggers;
pub mod upgrade;
pub mod users;
pub mod ws;
pub mod xano_meta;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use serde::Serialize;

use crate::error::ApiError;

/// Largest JSON body any route accepts; payload limits are checked more precisely by
/// the routes that carry payloads.
pub fn json_body_limit(max_payload_bytes: usize) -> usize {
    max_payload_bytes * 2 + 16 * 1024
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::TooLarge(format!("Request body is larger than {limit} bytes."))
        }
        JsonPayloadError::Deserialize(e) => serde_error(&e),
        other => ApiError::BadRequest(format!("JSON parse error - {other}")),
    }
}

/// `missing field `x`` becomes `{"x": "This field is required."}` (Syncano/DRF style);
/// any other decoding problem is `JSON parse error - …`.
pub fn serde_error(e: &serde_json::Error) -> ApiError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some(field) = rest.split('`').next() {
            return ApiError::field(field, "This field is required.");
        }
    }
    ApiError::BadRequest(format!("JSON parse error - {msg}"))
}

/// A JSON body that must be an object. Serde would otherwise accept an array for a struct
/// (`[payload, room]`), which no client means.
pub struct ObjectBody<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectBody<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
            .map(ObjectBody)
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::BadRequest(format!("Invalid query parameters - {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, _req| ApiError::NotFound.into())
}

/// A page of a list: `{"objects": [...], "next": URL|null, "prev": URL|null}`.
#[derive(Serialize)]
pub struct Page<T: Serialize> {
    pub objects: Vec<T>,
    pub next: Option<String>,
    pub prev: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct OffsetQuery {
    pub offset: Option<i64>,
    pub page_size: Option<i64>,
}

impl OffsetQuery {
    /// (offset, limit) with page_size defaulting to 50, clamped to 1..=100.
    pub fn window(&self) -> (i64, i64) {
        (
            self.offset.unwrap_or(0).max(0),
            self.page_size.unwrap_or(50).clamp(1, 100),
        )
    }
}

/// Builds an offset page from `limit + 1` fetched rows.
pub fn offset_page<T: Serialize>(
    req: &HttpRequest,
    mut rows: Vec<T>,
    offset: i64,
    limit: i64,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let link = |off: i64| format!("{}?offset={off}&page_size={limit}", req.path());
    Page {
        objects: rows,
        next: more.then(|| link(offset + limit)),
        prev: (offset > 0).then(|| link((offset - limit).max(0))),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Channels first: publish is the hot path, and the router tries services in order,
    // each pattern with a `{…}` segment by regex. No other route starts with the
    // channels scope, so the order does not change what matches.
    channels::configure(cfg);
    ops::configure(cfg);
    auth::configure(cfg);
    users::configure(cfg);
    keys::configure(cfg);
    syncano::configure(cfg);
    ws::configure(cfg);
    triggers::configure(cfg);
    xano_meta::configure(cfg);
    admin::configure(cfg);
    livechat::configure(cfg);
}

/// A method a route does not serve answers 405 `{"detail": "Method \"X\" not allowed."}`
/// (keeping the `Allow` header) instead of an empty body. Used as an `ErrorHandlers` hook.
pub fn method_not_allowed_json<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let message = format!("Method \"{}\" not allowed.", res.request().method());
    let allow = res.headers().get(actix_web::http::header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut builder = actix_web::HttpResponse::MethodNotAllowed();
    if let Some(allow) = allow {
        builder.insert_header((actix_web::http::header::ALLOW, allow));
    }
    let response = builder.json(serde_json::json!({ "detail": message }));
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Unknown routes answer `{"detail": "Not found."}` like every other 404.
pub async fn not_found() -> actix_web::HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound)
}

/// Serves `/path/` as `/path` (Syncano clients end every path with a slash). A plain
/// string check: actix's `NormalizePath` runs a regex on every request.
pub async fn trim_trailing_slash(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let path = req.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let with_query = match req.query_string() {
            "" => trimmed.to_string(),
            q => format!("{trimmed}?{q}"),
        };
        if let Ok(uri) = with_query.parse::<actix_web::http::Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}
