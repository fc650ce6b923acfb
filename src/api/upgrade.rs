//! The HTTP layer's upgrade hook: every request carrying `Upgrade: websocket` (and any
//! CONNECT) comes here with its raw socket instead of going through actix-web. A
//! WebSocket is answered with 101 and then runs on the socket directly (`wsio`), so the
//! HTTP dispatcher and its two 8 KiB buffers are gone for the life of the connection.

use std::sync::Arc;
use std::time::Instant;

use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1;
use actix_http::{ConnectionType, Method, Request, Response};
use actix_web::dev::{Path, ResourceDef};
use actix_web::{HttpResponse, ResponseError};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::channels::{self, poll_start, PollQuery};
use super::ws::{accept_envelope, accept_feed, ENVELOPE_ROUTES};
use crate::auth::extract::credentials_from;
use crate::auth::AuthService;
use crate::channels::ChannelService;
use crate::error::ApiError;
use crate::realtime::session::{self, SessionParams};
use crate::realtime::wsio::WsIo;

/// How long a refused upgrade's socket is drained before it is dropped.
const REFUSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Services the upgrade path needs (one per worker, cheap to clone).
#[derive(Clone)]
pub struct Upgrades {
    pub svc: Arc<ChannelService>,
    pub auth: Arc<AuthService>,
}

/// Where an upgrade request goes: matched against the very patterns the actix-web
/// routes are mounted with (`ws::ENVELOPE_ROUTES`, `channels::POLL_ROUTE` under each
/// prefix), so the two can never disagree.
enum Route {
    Envelope {
        pattern: &'static str,
    },
    Feed {
        pattern: &'static str,
        name: String,
        base: String,
    },
    NotFound,
}

struct Patterns {
    envelope: Vec<(&'static str, ResourceDef)>,
    feed: Vec<(&'static str, ResourceDef)>,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::LazyLock<Patterns> = std::sync::LazyLock::new(|| {
        let leak = |p: String| -> &'static str { Box::leak(p.into_boxed_str()) };
        Patterns {
            envelope: ENVELOPE_ROUTES
                .iter()
                .map(|p| (*p, ResourceDef::new(*p)))
                .collect(),
            feed: channels::PREFIXES
                .iter()
                .map(|prefix| {
                    let p = leak(format!(
                        "{prefix}{}{}",
                        channels::SCOPE,
                        channels::POLL_ROUTE
                    ));
                    (p, ResourceDef::new(p))
                })
                .collect(),
        }
    });
    &PATTERNS
}

impl Route {
    fn of(path: &str) -> Route {
        // Same trailing-slash rule as `api::trim_trailing_slash`.
        let path = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let table = patterns();
        if let Some((pattern, _)) = table.envelope.iter().find(|(_, d)| d.is_match(path)) {
            return Route::Envelope { pattern };
        }
        for (pattern, def) in &table.feed {
            let mut matched = Path::new(path);
            if !def.capture_match_info(&mut matched) {
                continue;
            }
            let name = channels::decode_name(matched.get("name").unwrap_or_default());
            if name.is_empty() {
                return Route::NotFound;
            }
            return Route::Feed {
                pattern,
                name,
                base: channels::base_for(matched.get("instance")),
            };
        }
        Route::NotFound
    }
}

/// What the request turned into.
enum Outcome {
    Accepted(Response<()>, SessionParams),
    Refused(HttpResponse),
}

/// Handles one upgrade request; the socket is either handed to a spawned session or
/// answered with an HTTP error and closed.
pub async fn handle(
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
    ctx: Upgrades,
) -> Result<(), actix_web::Error> {
    let started = Instant::now();
    let head = req.head();
    let method = head.method.clone();
    let route = Route::of(head.uri.path());
    let pattern = match &route {
        Route::Envelope { pattern } | Route::Feed { pattern, .. } => *pattern,
        Route::NotFound => "unmatched",
    };
    let wrong_method = !matches!(route, Route::NotFound) && method != Method::GET;
    let outcome = match route {
        _ if wrong_method => Outcome::Refused(method_not_allowed(&method)),
        Route::Envelope { .. } => {
            match accept_envelope(head, ctx.svc.clone(), ctx.auth.clone()).await {
                Ok((response, params)) => Outcome::Accepted(response, params),
                Err(e) => Outcome::Refused(e.error_response()),
            }
        }
        Route::Feed { name, base, .. } => match feed(head, &ctx, &name, &base).await {
            Ok((response, params)) => Outcome::Accepted(response, params),
            Err(e) => Outcome::Refused(e.error_response()),
        },
        Route::NotFound => Outcome::Refused(ApiError::NotFound.error_response()),
    };
    let status = match &outcome {
        Outcome::Accepted(r, _) => r.status(),
        Outcome::Refused(r) => r.status(),
    };
    crate::observability::record_request(
        pattern,
        method.as_str(),
        status.as_u16(),
        started.elapsed(),
    );

    let parts = framed.into_parts();
    let (mut io, mut codec) = (parts.io, parts.codec);
    // Bytes the client sent after its request (its first frames), in a buffer sized to
    // them: the HTTP layer's 8 KiB one is let go.
    let early = BytesMut::from(&parts.read_buf[..]);
    drop(parts.read_buf);
    drop(parts.write_buf);
    let max = ctx.svc.settings().max_frame_bytes;
    // Frames are whole messages, already coalesced per wake-up: send them at once
    // instead of letting Nagle hold them for the peer's (delayed) ACK.
    let _ = io.set_nodelay(true);
    match outcome {
        Outcome::Refused(res) => {
            let _ = refuse(&mut io, &mut codec, res).await;
        }
        Outcome::Accepted(response, params) => {
            if switch(&mut io, &mut codec, response).await.is_ok() {
                actix_web::rt::spawn(session::run(WsIo::new(io, early, max), params));
            }
        }
    }
    Ok(())
}

/// The Syncano WebSocket poll: same authentication, query rules, target and `last_id`
/// default as the long-poll route.
async fn feed(
    head: &actix_http::RequestHead,
    ctx: &Upgrades,
    name: &str,
    base: &str,
) -> Result<(Response<()>, SessionParams), ApiError> {
    let query = head.uri.query().unwrap_or("");
    let caller = ctx
        .auth
        .authenticate(credentials_from(head.headers(), query))
        .await?;
    let q = PollQuery::parse(query)?;
    let (target, last_id) = poll_start(&ctx.svc, &caller, name, &q).await?;
    if !q.websocket() {
        // A long-poll cannot be served on this path; no client sends one with
        // `Upgrade: websocket`.
        return Err(ApiError::NotFound);
    }
    accept_feed(
        head,
        ctx.svc.clone(),
        ctx.auth.clone(),
        &caller,
        (target, last_id),
        base,
    )
}

/// Same body and `Allow` header as the actix-web routes' 405.
fn method_not_allowed(method: &Method) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, "GET"))
        .json(serde_json::json!({ "detail": format!("Method \"{method}\" not allowed.") }))
}

/// Writes the 101 response.
async fn switch(
    io: &mut TcpStream,
    codec: &mut h1::Codec,
    response: Response<()>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    codec.encode(h1::Message::Item((response, BodySize::None)), &mut buf)?;
    io.write_all(&buf).await
}

/// Writes an HTTP error response and closes the connection (the socket cannot go back
/// to the HTTP dispatcher).
async fn refuse(
    io: &mut TcpStream,
    codec: &mut h1::Codec,
    res: HttpResponse,
) -> std::io::Result<()> {
    let res: Response<actix_http::body::BoxBody> = res.into();
    let (mut head, body) = res.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let body = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => actix_http::body::to_bytes(body)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    };
    let mut buf = BytesMut::new();
    codec.encode(
        h1::Message::Item((head, BodySize::Sized(body.len() as u64))),
        &mut buf,
    )?;
    if !body.is_empty() {
        codec.encode(h1::Message::Chunk(Some(body)), &mut buf)?;
    }
    codec.encode(h1::Message::Chunk(None), &mut buf)?;
    io.write_all(&buf).await?;
    io.shutdown().await?;
    // Closing with unread request bytes would reset the connection and could destroy the
    // answer before the client reads it: drain briefly, boundedly, until the client hangs up.
    let mut scratch = [0u8; 1024];
    let _ = tokio::time::timeout(REFUSE_LINGER, async {
        while matches!(io.read(&mut scratch).await, Ok(n) if n > 0) {}
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Route;

    fn feed(path: &str) -> Option<(String, String)> {
        match Route::of(path) {
            Route::Feed { name, base, .. } => Some((name, base)),
            _ => None,
        }
    }

    #[test]
    fn routes_follow_the_actix_web_paths() {
        assert!(matches!(Route::of("/ws"), Route::Envelope { .. }));
        assert!(matches!(Route::of("/ws/"), Route::Envelope { .. }));
        assert!(matches!(Route::of("/rt/a/b"), Route::Envelope { .. }));
        assert!(matches!(Route::of("/rt/"), Route::NotFound));
        assert!(matches!(Route::of("/wsx"), Route::NotFound));
        assert_eq!(
            feed("/api/v1/channels/a%2Fb/poll/"),
            Some(("a/b".into(), "/api/v1".into()))
        );
        assert_eq!(
            feed("/v1.1/instances/demo/channels/news/poll"),
            Some(("news".into(), "/v1.1/instances/demo".into()))
        );
        assert!(feed("/api/v1/channels//poll").is_none());
        assert!(feed("/api/v1/channels/poll").is_none());
        assert!(feed("/v1.1/instances/demo/poll").is_none());
        assert!(feed("/api/v1/channels/x/history").is_none());
    }
}
