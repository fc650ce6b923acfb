//! The REST dialect's error (`{"detail": …}`, Syncano-shaped) and its HTTP reply. Each
//! layer owns its own error type (`store::StoreError`, `channels::ChannelError`, …);
//! how those become an `ApiError` lives with the API (`api::errors`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// An error answered to an HTTP client, in the `{"detail": …}` dialect of the REST API
/// (Syncano-shaped). Other dialects (Rocket.Chat) build their own bodies in their routers.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// One invalid field: `{"field": "reason"}` as Syncano answers.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("Authentication credentials were not provided.")]
    Unauthenticated,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("Request was throttled. Expected available in {retry_after} seconds.")]
    RateLimited { retry_after: u64 },
    /// Refused by a realtime trigger (`reject(reason)`).
    #[error("{0}")]
    Rejected(String),
    /// A trigger failed or hit a limit.
    #[error("{0}")]
    TriggerError(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub use crate::channels::access::NO_PERMISSION;
/// Kept here so code written against the old layout still compiles; new code names
/// `crate::store::StoreError`.
pub use crate::store::StoreError;
pub const NO_SUCH_KEY: &str = "No such API Key.";

impl ApiError {
    pub fn field(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::Field {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    pub fn forbidden() -> ApiError {
        ApiError::Forbidden(NO_PERMISSION.to_string())
    }
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Field { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Rejected(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TriggerError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        let body = match self {
            ApiError::Field { field, reason } => json!({ field.as_str(): reason }),
            ApiError::Rejected(reason) => json!({"detail": reason, "code": "rejected"}),
            ApiError::TriggerError(msg) => json!({"detail": msg, "code": "trigger_error"}),
            ApiError::RateLimited { retry_after } => {
                builder.insert_header((header::RETRY_AFTER, retry_after.to_string()));
                json!({"detail": self.to_string()})
            }
            // Internals stay in the log; the client gets a stable message.
            ApiError::Internal(_) => json!({"detail": "Internal server error."}),
            other => json!({"detail": other.to_string()}),
        };
        builder.json(body)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
