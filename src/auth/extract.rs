//! actix glue: reads credentials from headers and the query string and resolves them to
//! a [`Caller`] through [`AuthService`].

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::{AuthService, Caller, Credentials};
use crate::error::ApiError;

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A query-string parameter, percent-decoded.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub fn credentials(req: &HttpRequest) -> Credentials {
    let bearer = header(req, "authorization").and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
    });
    Credentials {
        api_key: header(req, "x-api-key").or_else(|| query_param(req, "api_key")),
        bearer,
        auth_token: header(req, "x-auth-token"),
        user_id: header(req, "x-user-id"),
    }
}

/// The client's IP address as seen on the socket.
pub fn client_ip(req: &HttpRequest) -> String {
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
