//! actix glue: reads credentials from headers and the query string and resolves them to
//! a [`Caller`] through [`AuthService`].

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::HeaderMap;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::{AuthService, Caller, Credentials};
use crate::error::ApiError;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A query-string parameter, percent-decoded.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    query_value(req.query_string(), name)
}

/// A parameter of a raw query string, percent-decoded (for the upgrade path, which has
/// no `HttpRequest`).
pub fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub fn credentials(req: &HttpRequest) -> Credentials {
    credentials_from(req.headers(), req.query_string())
}

/// Credentials from headers and query string: shared by actix-web handlers and the
/// WebSocket upgrade path.
pub fn credentials_from(headers: &HeaderMap, query: &str) -> Credentials {
    let bearer = header(headers, "authorization").and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
    });
    Credentials {
        api_key: header(headers, "x-api-key").or_else(|| query_value(query, "api_key")),
        bearer,
        auth_token: header(headers, "x-auth-token"),
        user_id: header(headers, "x-user-id"),
    }
}

/// The client's IP as relayed by a trusted node of the cluster (set on a request only
/// after its cluster secret was checked).
#[derive(Debug, Clone, Copy)]
pub struct RelayedClientIp(pub std::net::IpAddr);

/// The client's IP address as seen on the socket (or as relayed by a cluster edge).
pub fn client_ip(req: &HttpRequest) -> String {
    if let Some(RelayedClientIp(ip)) = req.extensions().get::<RelayedClientIp>().copied() {
        return ip.to_string();
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<AuthService>>().cloned();
        let creds = credentials(req);
        Box::pin(async move {
            let auth = auth.ok_or_else(|| ApiError::Internal("auth service missing".into()))?;
            auth.authenticate(creds).await
        })
    }
}
