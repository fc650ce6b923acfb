//! An edge's reverse proxy: every API call it does not serve itself goes to the primary
//! unchanged (method, path, query, body, the client's own credentials), plus who the
//! client is (`X-Forwarded-For`, and `X-Rtbox-Relayed-For` that the primary believes only
//! with the cluster secret). The primary answers exactly as if called directly.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::upstream::UNREACHABLE;
use super::wire::{NODE_HEADER, SECRET_HEADER};
use crate::api::admin;
use crate::channels::ChannelService;
use crate::stats::{NodeStatus, Sampler};

/// Header carrying the client's IP from an edge (trusted only with the cluster secret).
pub const RELAYED_FOR: &str = "x-rtbox-relayed-for";
/// Long-polls wait up to their `timeout` (300 s by default) on the primary.
const PROXY_TIMEOUT: Duration = Duration::from_secs(330);

pub struct Forwarder {
    base: String,
    secret: String,
    node: String,
    http: reqwest::Client,
}

/// Headers that describe one hop, not the request (RFC 9110 §7.6.1), and our own.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | SECRET_HEADER
            | NODE_HEADER
            | RELAYED_FOR
    )
}

impl Forwarder {
    pub fn new(base: &str, secret: &str, node: &str) -> anyhow::Result<Forwarder> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(PROXY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Forwarder {
            base: base.to_string(),
            secret: secret.to_string(),
            node: node.to_string(),
            http,
        })
    }

    async fn forward(&self, req: &HttpRequest, body: web::Bytes) -> HttpResponse {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!("{}{path}", self.base);
        let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
            return HttpResponse::MethodNotAllowed().finish();
        };
        let mut out = self.http.request(method, &url);
        for (name, value) in req.headers() {
            if !hop_by_hop(name.as_str()) && name.as_str() != "x-forwarded-for" {
                out = out.header(name.as_str(), value.as_bytes());
            }
        }
        let peer: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
        if let Some(ip) = peer {
            let chain = match req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip.to_string(),
            };
            out = out
                .header("x-forwarded-for", chain)
                .header(RELAYED_FOR, ip.to_string());
        }
        let out = out
            .header(SECRET_HEADER, &self.secret)
            .header(NODE_HEADER, &self.node)
            .body(body);
        let res = match out.send().await {
            Ok(res) => res,
            Err(e) => {
                tracing::warn!(error = %e, %url, "primary unreachable");
                metrics::counter!("rtbox_cluster_primary_errors_total").increment(1);
                return HttpResponse::ServiceUnavailable()
                    .insert_header(("retry-after", "1"))
                    .json(serde_json::json!({"detail": UNREACHABLE}));
            }
        };
        let status = actix_web::http::StatusCode::from_u16(res.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
        let mut reply = HttpResponse::build(status);
        for (name, value) in res.headers() {
            if hop_by_hop(name.as_str()) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_str().as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                reply.append_header((n, v));
            }
        }
        match res.bytes().await {
            Ok(bytes) => reply.body(bytes),
            Err(e) => {
                tracing::warn!(error = %e, %url, "primary reply cut off");
                HttpResponse::BadGateway()
                    .json(serde_json::json!({"detail": "The primary's reply was cut off."}))
            }
        }
    }
}

pub async fn forward(
    req: HttpRequest,
    body: web::Bytes,
    fwd: web::Data<Forwarder>,
) -> HttpResponse {
    let res = fwd.forward(&req, body).await;
    // What this client changed is in force here before it hears back (a join right
    // after creating a channel through this edge finds it).
    if res.status().is_success() && super::changes_definitions(req.method(), req.path()) {
        if let Some(node) = req.app_data::<web::Data<super::Node>>() {
            node.refresh_definitions().await;
        }
    }
    res
}

/// `GET /api/v1/stats` on an edge: the primary answers (it checks the caller and knows
/// the database, livechat and the activity feed), and this node puts its own sockets,
/// subscriptions, rates and cluster gauges over that answer.
async fn stats(
    req: HttpRequest,
    body: web::Bytes,
    fwd: web::Data<Forwarder>,
    svc: web::Data<ChannelService>,
    sampler: web::Data<Sampler>,
    node: Option<web::Data<dyn NodeStatus>>,
) -> HttpResponse {
    let res = fwd.forward(&req, body).await;
    if res.status() != actix_web::http::StatusCode::OK {
        return res;
    }
    let mut reply = HttpResponse::build(res.status());
    for (name, value) in res.headers() {
        if name != actix_web::http::header::CONTENT_LENGTH {
            reply.append_header((name.clone(), value.clone()));
        }
    }
    let bytes = match actix_web::body::to_bytes(res.into_body()).await {
        Ok(b) => b,
        Err(_) => return HttpResponse::BadGateway().finish(),
    };
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&bytes) else {
        return reply.body(bytes);
    };
    fields.extend(admin::node_stats(&svc, &sampler));
    fields.insert("cluster".into(), admin::cluster_stats(node.as_ref()));
    reply.json(fields)
}

/// What an edge forwards: the REST API (and its Syncano and Xano aliases). WebSockets,
/// `/metrics`, `/healthz`, the admin UI and the widget files are served by the edge;
/// `/api/v1/stats` is answered by both.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/stats").route(web::get().to(stats)))
        .service(web::scope("/api").default_service(web::to(forward)))
        .service(web::scope("/v1.1").default_service(web::to(forward)))
        .service(web::scope("/api:meta").default_service(web::to(forward)));
}
