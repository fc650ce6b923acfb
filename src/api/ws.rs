//! WebSocket handshakes: `/ws` and `/rt/{canonical}` (the Xano SDK's URL) speak the
//! envelope protocol; the Syncano `poll/?transport=websocket` pushes bare messages.
//!
//! Real upgrades never reach actix-web: the HTTP layer hands them to `api::upgrade`,
//! which runs the socket itself. The checks here (identity, per-IP limit, handshake) are
//! shared by that path and by the actix-web routes, which only see requests without
//! `Upgrade: websocket` and so answer them with the same errors as before.

use std::sync::Arc;

use actix_http::ws::HandshakeError;
use actix_http::{RequestHead, Response};
use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::auth::extract::{credentials_from, query_value};
use crate::auth::{secrets, AuthService, Caller, Principal};
use crate::channels::{Actor, ChannelService, Target};
use crate::error::ApiError;
use crate::realtime::outbox::Outgoing;
use crate::realtime::session::{SessionKind, SessionParams};
use crate::realtime::{AuthRefusal, Conn, Format, Outbox};

/// The envelope-protocol URLs; the upgrade path matches against these same patterns.
pub const ENVELOPE_ROUTES: [&str; 2] = ["/ws", "/rt/{canonical:.*}"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for route in ENVELOPE_ROUTES {
        cfg.route(route, web::get().to(not_upgraded));
    }
}

/// A plain GET on a WebSocket URL: the same checks in the same order as a real
/// upgrade, so the client gets the same 429 or handshake error as it always did.
async fn not_upgraded(
    req: HttpRequest,
    svc: web::Data<ChannelService>,
    auth: web::Data<AuthService>,
) -> Result<HttpResponse, actix_web::Error> {
    // Unreachable in practice (a valid handshake is routed to the upgrade path); the
    // IP slot goes back with the dropped parameters.
    let _ = accept_envelope(req.head(), svc.into_inner(), auth.into_inner()).await?;
    Err(HandshakeError::NoWebsocketUpgrade.into())
}

fn new_socket_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn query(head: &RequestHead) -> &str {
    head.uri.query().unwrap_or("")
}

/// The first value offered in `Sec-WebSocket-Protocol` (the Xano SDK sends its auth
/// token there; the server must echo it back).
fn offered_protocol(head: &RequestHead) -> Option<String> {
    head.headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|s| !s.is_empty()))
        .map(str::to_string)
}

/// Resolves who is connecting. Bad credentials are not an HTTP error: the socket opens,
/// gets an `unauthorized` error frame and is closed with 1008 (clients must not retry).
async fn identify(
    head: &RequestHead,
    auth: &AuthService,
    protocol: Option<&str>,
) -> Result<Caller, AuthRefusal> {
    let token = query_value(query(head), "token").or_else(|| protocol.map(str::to_string));
    if let Some(token) = token {
        if token.starts_with(secrets::SESSION_PREFIX) {
            // A dashboard session (agents' inbox): browsers cannot set headers on a WebSocket.
            let creds = crate::auth::Credentials {
                bearer: Some(token),
                ..Default::default()
            };
            return auth
                .authenticate(creds)
                .await
                .map_err(|e| AuthRefusal::from(&e));
        }
        if token.starts_with(secrets::API_KEY_PREFIX) {
            let creds = crate::auth::Credentials {
                api_key: Some(token),
                ..Default::default()
            };
            return auth
                .authenticate(creds)
                .await
                .map_err(|e| AuthRefusal::from(&e));
        }
        return auth
            .verify_client_token(&token)
            .map(|claims| Caller {
                principal: Principal::Client(Arc::new(claims)),
                session_hash: None,
            })
            .map_err(|e| AuthRefusal::denied(format!("invalid client token: {e}")));
    }
    auth.authenticate(credentials_from(head.headers(), query(head)))
        .await
        .map_err(|e| AuthRefusal::from(&e))
}

/// Opens the connection's outbox and hub record; refuses past the per-IP limit.
fn open_conn(
    head: &RequestHead,
    svc: &ChannelService,
    client: serde_json::Value,
    socket_id: String,
    format: Format,
) -> Result<(Arc<Conn>, mpsc::Receiver<Outgoing>), ApiError> {
    let settings = svc.settings();
    let ip = head.peer_addr.map(|a| a.ip());
    let ip_slot = match ip {
        // Loopback peers are this machine: the operator's reverse proxy (every client
        // would share its one quota) or tools.
        Some(ip) if ip.is_loopback() => None,
        Some(ip) => Some(
            svc.hub()
                .admit_ip(ip, settings.max_connections_per_ip)
                .ok_or(ApiError::RateLimited { retry_after: 5 })?,
        ),
        None => None,
    };
    let (outbox, rx) = Outbox::new(settings.ws_queue_messages, settings.ws_queue_bytes);
    let client: Box<RawValue> =
        serde_json::value::to_raw_value(&client).map_err(|e| ApiError::Internal(e.to_string()))?;
    let conn = Arc::new(Conn {
        id: svc.hub().next_conn_id(),
        socket_id: Arc::from(socket_id),
        client: parking_lot::RwLock::new(Arc::from(client)),
        outbox,
        format,
        ip,
        ip_slot,
    });
    Ok((conn, rx))
}

/// The 101 response, echoing `protocol` when the client offered one.
fn handshake(head: &RequestHead, protocol: Option<&str>) -> Result<Response<()>, HandshakeError> {
    let mut response = actix_http::ws::handshake(head)?;
    if let Some(protocol) = protocol {
        response.insert_header((actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, protocol));
    }
    Ok(response.finish().drop_body())
}

/// Checks an envelope-protocol upgrade: returns the 101 response and the session's
/// parameters, or the HTTP error to answer with.
pub async fn accept_envelope(
    head: &RequestHead,
    svc: Arc<ChannelService>,
    auth: Arc<AuthService>,
) -> Result<(Response<()>, SessionParams), actix_web::Error> {
    let protocol = offered_protocol(head);
    let socket_id = new_socket_id();
    let (actor, auth_error) = match query_value(query(head), "visitor_token") {
        // A livechat visitor: its token is resolved by the dialect that owns visitors.
        Some(token) => match svc.session_dialect() {
            Some(dialect) => match dialect.visitor(token).await {
                Ok(actor) => (actor, None),
                Err(e) => (Actor::Anonymous(socket_id.clone()), Some(e)),
            },
            None => (
                Actor::Anonymous(socket_id.clone()),
                Some(AuthRefusal::denied("livechat is not available")),
            ),
        },
        None => match identify(head, &auth, protocol.as_deref()).await {
            Ok(c) => (Actor::from_caller(&c, &socket_id), None),
            Err(e) => (
                Actor::from_caller(&Caller::anonymous(), &socket_id),
                Some(e),
            ),
        },
    };
    let (conn, rx) = open_conn(
        head,
        &svc,
        actor.client_json(&socket_id),
        socket_id,
        Format::Envelope,
    )?;
    let response = handshake(head, protocol.as_deref())?;
    let params = SessionParams {
        svc,
        auth,
        conn,
        rx,
        actor,
        kind: SessionKind::Envelope { auth_error },
    };
    Ok((response, params))
}

/// Checks a Syncano `poll/?transport=websocket` upgrade (replay after `last_id`, then
/// each new message as a bare Syncano object in its own text frame).
pub fn accept_feed(
    head: &RequestHead,
    svc: Arc<ChannelService>,
    auth: Arc<AuthService>,
    caller: &Caller,
    feed: (Target, i64),
    base: &str,
) -> Result<(Response<()>, SessionParams), ApiError> {
    let socket_id = new_socket_id();
    let actor = Actor::from_caller(caller, &socket_id);
    // Every refusal here has always been a 400 carrying the reason (even the per-IP
    // limit), which Syncano clients treat as "fall back to long-polling".
    let (conn, rx) = open_conn(
        head,
        &svc,
        serde_json::json!({}),
        socket_id,
        Format::Syncano {
            base: Arc::from(base),
        },
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let response = handshake(head, None).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (target, last_id) = feed;
    let params = SessionParams {
        svc,
        auth,
        conn,
        rx,
        actor,
        kind: SessionKind::Feed { target, last_id },
    };
    Ok((response, params))
}
