//! Channels over REST (Syncano v1.1 shapes): CRUD, publish, Realtime Events, history,
//! long-poll and presence. Mounted under `/api/v1` and the Syncano alias prefix.

use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::channel_routes::{self, serve, Suffix};
use crate::api::ratelimit::PublishLimits;
use crate::api::{offset_page, ObjectBody, OffsetQuery};
use crate::auth::Caller;
use crate::channels::message::Kind;
use crate::channels::model::Permission;
use crate::channels::{Actor, ChannelService, Origin, PublishRequest, API_BASE};
use crate::error::{ApiError, ApiResult};

const MAX_POLL_SECONDS: u64 = 3600;
const DEFAULT_POLL_SECONDS: u64 = 300;

/// The route families channel routes are mounted under: rtbox's own, and Syncano's
/// alias (any instance name).
pub const PREFIXES: [&str; 2] = [API_BASE, SYNCANO_PREFIX];
pub const SYNCANO_PREFIX: &str = "/v1.1/instances/{instance}";
/// The scope every channel route lives in, under a prefix.
pub const SCOPE: &str = "/channels";
/// The long-poll route (also the Syncano WebSocket feed), under the scope; the upgrade
/// path matches WebSocket requests against this same pattern.
pub const POLL_ROUTE: &str = Suffix::Poll.pattern();

/// Mounts the channel routes under `prefix` (`/api/v1` or `/v1.1/instances/{instance}`).
/// Names may contain `/`, so the trailing words pick the route: `channel_routes` serves
/// the suffix routes without matching their patterns; the patterns are still mounted, in
/// the same order, for what it leaves to the router.
pub fn routes(cfg: &mut web::ServiceConfig, prefix: &'static str) {
    use actix_web::dev::Service;
    use futures_util::future::LocalBoxFuture;
    type Reply = Result<ServiceResponse<BoxBody>, actix_web::Error>;
    let mut scope = web::scope(&format!("{prefix}{SCOPE}")).wrap_fn(
        move |mut req, srv| -> LocalBoxFuture<'static, Reply> {
            match channel_routes::take(&mut req, prefix) {
                Some(suffix) => Box::pin(async move { Ok(serve_suffix(suffix, req).await) }),
                None => {
                    let res = srv.call(req);
                    Box::pin(async move { Ok(res.await?.map_into_boxed_body()) })
                }
            }
        },
    );
    for suffix in Suffix::ALL {
        let route = match suffix {
            Suffix::Publish => web::post().to(publish),
            Suffix::Events => web::post().to(event),
            Suffix::HistoryItem => web::get().to(history_item),
            Suffix::History => web::get().to(history),
            Suffix::Poll => web::get().to(poll),
            Suffix::Presence => web::get().to(presence),
        };
        scope = scope.route(suffix.pattern(), route);
    }
    cfg.service(
        scope
            .service(
                web::resource("")
                    .route(web::get().to(list))
                    .route(web::post().to(create)),
            )
            .service(
                web::resource("/{name:.+}")
                    .route(web::get().to(detail))
                    .route(web::patch().to(update))
                    .route(web::put().to(update))
                    .route(web::delete().to(delete)),
            ),
    );
}

async fn serve_suffix(suffix: Suffix, req: ServiceRequest) -> ServiceResponse<BoxBody> {
    match suffix {
        Suffix::Publish => serve(publish, req).await,
        Suffix::Events => serve(event, req).await,
        Suffix::HistoryItem => serve(history_item, req).await,
        Suffix::History => serve(history, req).await,
        Suffix::Poll => serve(poll, req).await,
        Suffix::Presence => serve(presence, req).await,
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    routes(cfg, API_BASE);
}

/// The channel name from the path, percent-decoded, without a trailing slash.
pub fn name_param(req: &HttpRequest) -> String {
    decode_name(req.match_info().get("name").unwrap_or_default())
}

/// A `{name}` path segment as a channel name: percent-decoded, no trailing slash.
pub fn decode_name(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    decoded.trim_end_matches('/').to_string()
}

/// Links in bodies follow the route family the client used.
fn base(req: &HttpRequest) -> String {
    base_for(req.match_info().get("instance"))
}

/// The links base of a route family, from its `{instance}` (Syncano) if any.
pub fn base_for(instance: Option<&str>) -> String {
    match instance {
        Some(instance) => SYNCANO_PREFIX.replace("{instance}", instance),
        None => API_BASE.to_string(),
    }
}

fn actor(caller: &Caller) -> Actor {
    Actor::from_caller(caller, "rest")
}

fn json_text(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

#[derive(Deserialize)]
struct ListQuery {
    offset: Option<i64>,
    page_size: Option<i64>,
    /// Case-insensitive substring of the name or description (the admin UI's search).
    search: Option<String>,
}

async fn list(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.is_server_publisher())?;
    let (offset, limit) = OffsetQuery {
        offset: q.offset,
        page_size: q.page_size,
    }
    .window();
    let base = base(&req);
    let search = q
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let rows: Vec<Value> = svc
        .list()
        .iter()
        .filter(|c| {
            search
                .as_deref()
                .is_none_or(|s| c.name.contains(s) || c.description.to_lowercase().contains(s))
        })
        .skip(offset as usize)
        .take(limit as usize + 1)
        .map(|c| c.to_json(&base))
        .collect();
    let mut page = offset_page(&req, rows, offset, limit);
    if let Some(s) = &search {
        let term = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC);
        for link in [&mut page.next, &mut page.prev].into_iter().flatten() {
            link.push_str(&format!("&search={term}"));
        }
    }
    Ok(HttpResponse::Ok().json(page))
}

async fn create(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let channel = svc.create(&body).await?;
    Ok(HttpResponse::Created().json(channel.to_json(&base(&req))))
}

async fn detail(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.is_server_publisher())?;
    let channel = svc.definition(&name_param(&req))?;
    Ok(HttpResponse::Ok().json(channel.to_json(&base(&req))))
}

async fn update(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let channel = svc.update(&name_param(&req), &body).await?;
    Ok(HttpResponse::Ok().json(channel.to_json(&base(&req))))
}

async fn delete(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    svc.delete(&name_param(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct PublishBody {
    #[serde(default)]
    payload: Option<Box<RawValue>>,
    #[serde(default)]
    room: Option<String>,
}

/// A publish body (`{payload, room?}`, an object) decoded as the route's extractor does:
/// the payload (`null` when absent) and the room (the fuzz targets drive this).
pub fn parse_publish_body(bytes: &[u8]) -> ApiResult<(Box<RawValue>, Option<String>)> {
    let ObjectBody(body) = serde_json::from_slice::<ObjectBody<PublishBody>>(bytes)
        .map_err(|e| crate::api::serde_error(&e))?;
    Ok((or_null(body.payload)?, body.room))
}

fn or_null(payload: Option<Box<RawValue>>) -> ApiResult<Box<RawValue>> {
    match payload {
        Some(p) => Ok(p),
        None => RawValue::from_string("null".into()).map_err(|e| ApiError::Internal(e.to_string())),
    }
}

/// Publishes through the shared pipeline and answers 201 with the message object
/// (links under the route family the client used). Rate-limited per API key or client IP
/// (429 in the Syncano shape).
async fn publish_and_answer(
    req: &HttpRequest,
    caller: &Caller,
    svc: &ChannelService,
    request: PublishRequest,
) -> ApiResult<HttpResponse> {
    if let Some(limits) = req.app_data::<web::Data<PublishLimits>>() {
        let ip = req.peer_addr().map(|a| a.ip());
        limits
            .check(caller, ip)
            .map_err(|t| ApiError::RateLimited {
                retry_after: t.retry_after,
            })?;
    }
    let published = svc.publish(request).await?;
    let mut resp = json_text(
        actix_web::http::StatusCode::CREATED,
        published.message.to_json_string(&base(req)),
    );
    if !published.persisted {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-rtbox-persisted"),
            actix_web::http::header::HeaderValue::from_static("false"),
        );
    }
    Ok(resp)
}

async fn publish(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    body: web::Json<ObjectBody<PublishBody>>,
) -> ApiResult<HttpResponse> {
    let ObjectBody(body) = body.into_inner();
    let request = PublishRequest {
        channel: name_param(&req),
        room: body.room,
        payload: or_null(body.payload)?,
        kind: Kind::Message,
        origin: Origin::Client {
            actor: actor(&caller),
            socket_id: "rest".into(),
            client: None,
        },
    };
    publish_and_answer(&req, &caller, &svc, request).await
}

#[derive(Deserialize)]
struct EventBody {
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    room: Option<String>,
}

/// Realtime Event (Xano): a server-side message of type `event`; `custom_publish`
/// does not apply.
async fn event(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    body: web::Json<ObjectBody<EventBody>>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.is_server_publisher())?;
    let ObjectBody(body) = body.into_inner();
    let request = PublishRequest {
        channel: name_param(&req),
        room: body.room,
        payload: or_null(body.data)?,
        kind: Kind::Event,
        origin: Origin::Server(actor(&caller).author()),
    };
    publish_and_answer(&req, &caller, &svc, request).await
}

#[derive(Deserialize)]
struct HistoryQuery {
    room: Option<String>,
    last_id: Option<i64>,
    ordering: Option<String>,
    page_size: Option<i64>,
}

async fn history(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    q: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let target = svc.target(
        &actor(&caller),
        &name_param(&req),
        q.room.as_deref(),
        Permission::Subscribe,
    )?;
    let descending = match q.ordering.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::field("ordering", "Must be asc or desc.")),
    };
    let page_size = q.page_size.unwrap_or(50).clamp(1, 100);
    let rows = svc
        .history(&target, q.last_id, descending, page_size)
        .await?;
    let base = base(&req);
    let next = (rows.len() as i64 == page_size).then(|| {
        let last = rows.last().map(|m| m.id).unwrap_or_default();
        let mut link = format!(
            "{}?last_id={last}&ordering={}&page_size={page_size}",
            req.path(),
            if descending { "desc" } else { "asc" }
        );
        if let Some(room) = &target.room {
            link.push_str("&room=");
            link.push_str(
                &percent_encoding::utf8_percent_encode(room, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        link
    });
    let objects: Vec<Value> = rows.iter().map(|m| m.to_value(&base)).collect();
    Ok(HttpResponse::Ok().json(json!({"objects": objects, "next": next, "prev": null})))
}

async fn history_item(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
) -> ApiResult<HttpResponse> {
    let target = svc.any_room_target(&actor(&caller), &name_param(&req), Permission::Subscribe)?;
    let id: i64 = req
        .match_info()
        .get("id")
        .and_then(|s| s.parse().ok())
        .ok_or(ApiError::NotFound)?;
    let message = svc.message(&target, id).await?;
    Ok(json_text(
        actix_web::http::StatusCode::OK,
        message.to_json_string(&base(&req)),
    ))
}

#[derive(Deserialize)]
pub struct PollQuery {
    room: Option<String>,
    last_id: Option<i64>,
    timeout: Option<u64>,
    transport: Option<String>,
}

impl PollQuery {
    /// Parses a raw query string the way the `web::Query` extractor does (same error).
    pub fn parse(query: &str) -> ApiResult<PollQuery> {
        web::Query::<PollQuery>::from_query(query)
            .map(web::Query::into_inner)
            .map_err(|e| ApiError::BadRequest(format!("Invalid query parameters - {e}")))
    }

    pub fn websocket(&self) -> bool {
        self.transport.as_deref() == Some("websocket")
    }
}

/// What a poll follows and from which id (default: the newest message, so only new ones
/// arrive). Shared by the long-poll and the WebSocket feed on the upgrade path.
pub async fn poll_start(
    svc: &ChannelService,
    caller: &Caller,
    name: &str,
    q: &PollQuery,
) -> ApiResult<(crate::channels::Target, i64)> {
    let target = svc.subscribe_target(&actor(caller), name, q.room.as_deref())?;
    let last_id = match q.last_id {
        Some(id) => id,
        None => svc
            .history(&target, None, true, 1)
            .await?
            .first()
            .map(|m| m.id)
            .unwrap_or(0),
    };
    Ok((target, last_id))
}

async fn poll(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    auth: web::Data<crate::auth::AuthService>,
    q: web::Query<PollQuery>,
) -> ApiResult<HttpResponse> {
    let (target, last_id) = poll_start(&svc, &caller, &name_param(&req), &q).await?;
    if q.websocket() {
        // Only reached without `Upgrade: websocket` (real upgrades take the upgrade
        // path), so this answers with the handshake error as it always did.
        // (The IP slot goes back with the dropped feed parameters.)
        let _ = crate::api::ws::accept_feed(
            req.head(),
            svc.into_inner(),
            auth.into_inner(),
            &caller,
            (target, last_id),
            &base(&req),
        )?;
        return Err(ApiError::BadRequest(
            actix_http::ws::HandshakeError::NoWebsocketUpgrade.to_string(),
        ));
    }
    let timeout = q
        .timeout
        .unwrap_or(DEFAULT_POLL_SECONDS)
        .min(MAX_POLL_SECONDS);
    match svc
        .poll(&target, last_id, Duration::from_secs(timeout))
        .await?
    {
        Some(m) => Ok(HttpResponse::Ok()
            .insert_header(("X-Last-Id", m.id.to_string()))
            .content_type("application/json")
            .body(m.to_json_string(&base(&req)))),
        None => Ok(HttpResponse::NoContent()
            .insert_header(("X-Last-Id", last_id.to_string()))
            .finish()),
    }
}

#[derive(Deserialize)]
struct RoomQuery {
    room: Option<String>,
}

async fn presence(
    req: HttpRequest,
    caller: Caller,
    svc: web::Data<ChannelService>,
    q: web::Query<RoomQuery>,
) -> ApiResult<HttpResponse> {
    let target = svc.subscribe_target(&actor(&caller), &name_param(&req), q.room.as_deref())?;
    let clients = svc.presence(&target.topic()).await;
    Ok(HttpResponse::Ok()
        .json(json!({"objects": clients, "count": clients.len(), "next": null, "prev": null})))
}
