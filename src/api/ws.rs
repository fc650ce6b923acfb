//! WebSocket upgrades: `/ws` and `/rt/{canonical}` (the Xano SDK's URL) speak the
//! envelope protocol; the Syncano `poll/?transport=websocket` pushes bare messages.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde_json::value::RawValue;

use crate::auth::extract::{credentials, query_param};
use crate::auth::{secrets, AuthService, Caller, Principal};
use crate::channels::{Actor, ChannelService, Target};
use crate::error::ApiError;
use crate::realtime::outbox::Outgoing;
use crate::realtime::session::{self, SessionParams};
use crate::realtime::{Conn, Format, Outbox};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(upgrade))
        .route("/rt/{canonical:.*}", web::get().to(upgrade));
}

fn new_socket_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The first value offered in `Sec-WebSocket-Protocol` (the Xano SDK sends its auth
/// token there; the server must echo it back).
fn offered_protocol(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|s| !s.is_empty()))
        .map(str::to_string)
}

/// Resolves who is connecting. Bad credentials are not an HTTP error: the socket opens,
/// gets an `unauthorized` error frame and is closed with 1008 (clients must not retry).
async fn identify(
    req: &HttpRequest,
    auth: &AuthService,
    protocol: Option<&str>,
) -> Result<Caller, String> {
    let token = query_param(req, "token").or_else(|| protocol.map(str::to_string));
    if let Some(token) = token {
        if token.starts_with(secrets::API_KEY_PREFIX) {
            let creds = crate::auth::Credentials {
                api_key: Some(token),
                ..Default::default()
            };
            return auth.authenticate(creds).await.map_err(|e| e.to_string());
        }
        return auth
            .verify_client_token(&token)
            .map(|claims| Caller {
                principal: Principal::Client(Arc::new(claims)),
                session_hash: None,
            })
            .map_err(|e| format!("invalid client token: {e}"));
    }
    auth.authenticate(credentials(req))
        .await
        .map_err(|e| e.to_string())
}

/// Opens the connection's outbox and hub record; refuses past the per-IP limit.
fn open_conn(
    req: &HttpRequest,
    svc: &ChannelService,
    client: serde_json::Value,
    socket_id: String,
    format: Format,
) -> Result<(Arc<Conn>, tokio::sync::mpsc::Receiver<Outgoing>), ApiError> {
    let settings = svc.settings();
    let ip = req.peer_addr().map(|a| a.ip());
    if let Some(ip) = ip {
        if !svc.hub().admit_ip(ip, settings.max_connections_per_ip) {
            return Err(ApiError::RateLimited { retry_after: 5 });
        }
    }
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
    });
    Ok((conn, rx))
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    svc: web::Data<ChannelService>,
    auth: web::Data<AuthService>,
) -> Result<HttpResponse, actix_web::Error> {
    let protocol = offered_protocol(&req);
    let socket_id = new_socket_id();
    let (caller, auth_error) = match identify(&req, &auth, protocol.as_deref()).await {
        Ok(c) => (c, None),
        Err(e) => (Caller::anonymous(), Some(e)),
    };
    let actor = Actor::from_caller(&caller, &socket_id);
    let (conn, rx) = open_conn(
        &req,
        &svc,
        actor.client_json(&socket_id),
        socket_id,
        Format::Envelope,
    )?;
    let protocols: Vec<&str> = protocol.iter().map(String::as_str).collect();
    let (resp, session, stream) = match actix_ws::handle_with_protocols(&req, body, &protocols) {
        Ok(parts) => parts,
        Err(e) => {
            if let Some(ip) = conn.ip {
                svc.hub().release_ip(ip);
            }
            return Err(e);
        }
    };
    let params = SessionParams {
        svc: svc.into_inner(),
        auth: auth.into_inner(),
        conn,
        rx,
        actor,
        auth_error,
    };
    actix_web::rt::spawn(session::run(session, stream, params));
    Ok(resp)
}

/// Syncano's `poll/?transport=websocket`: replay after `last_id`, then each new message
/// as a bare Syncano object in its own text frame.
pub fn syncano_poll(
    req: &HttpRequest,
    body: web::Payload,
    svc: Arc<ChannelService>,
    target: Target,
    last_id: i64,
    base: &str,
) -> Result<HttpResponse, actix_web::Error> {
    let (conn, rx) = open_conn(
        req,
        &svc,
        serde_json::json!({}),
        new_socket_id(),
        Format::Syncano {
            base: Arc::from(base),
        },
    )?;
    let (resp, session, stream) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(e) => {
            if let Some(ip) = conn.ip {
                svc.hub().release_ip(ip);
            }
            return Err(e);
        }
    };
    actix_web::rt::spawn(session::run_feed(
        session, stream, svc, conn, rx, target, last_id,
    ));
    Ok(resp)
}
