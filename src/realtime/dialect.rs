//! What a dialect (livechat) adds to WebSocket sessions without the session knowing the
//! dialect: resolving a visitor token to an actor, and frame actions of its own
//! (`visitor_event`).

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::protocol::ErrorCode;
use crate::channels::Actor;
use crate::error::ApiError;

pub type DialectFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a socket's credentials were not taken. `retry`: they could not be checked now
/// (the node that knows them is unreachable), so the socket is closed with 1013 and the
/// client tries again; otherwise they are wrong, and 1008 tells it not to.
#[derive(Debug, Clone)]
pub struct AuthRefusal {
    pub message: String,
    pub retry: bool,
}

impl AuthRefusal {
    pub fn denied(message: impl Into<String>) -> AuthRefusal {
        AuthRefusal {
            message: message.into(),
            retry: false,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> AuthRefusal {
        AuthRefusal {
            message: message.into(),
            retry: true,
        }
    }
}

impl From<&ApiError> for AuthRefusal {
    fn from(e: &ApiError) -> AuthRefusal {
        match e {
            ApiError::Unavailable(_) | ApiError::Internal(_) => {
                AuthRefusal::unavailable(e.to_string())
            }
            other => AuthRefusal::denied(other.to_string()),
        }
    }
}

pub trait SessionDialect: Send + Sync {
    /// The actor behind a visitor token.
    fn visitor(&self, token: String) -> DialectFuture<Result<Actor, AuthRefusal>>;

    /// Handles a frame action the envelope protocol does not know, or `None` when the
    /// dialect does not know it either. `Ok` is the payload of the `ack`.
    fn frame(
        &self,
        actor: &Actor,
        action: &str,
        payload: Value,
    ) -> Option<DialectFuture<Result<Value, (ErrorCode, String)>>>;

    /// A socket of `actor` joined `channel` (after every check passed).
    fn joined(&self, _actor: &Actor, _channel: &str) {}

    /// A socket of `actor` left `channel`, or closed while joined.
    fn left(&self, _actor: &Actor, _channel: &str) {}
}
