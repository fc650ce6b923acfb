//! Error types per layer and their mapping to HTTP replies — the one place where a
//! domain or storage failure becomes a status code and a JSON body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Failures of the storage layer. Callers match on `NotFound` / `Conflict`; everything
/// else is an internal error that is logged and hidden from clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("database schema version {found} is newer than this binary supports ({supported}); upgrade rtbox or restore an older backup")]
    NewerSchema { found: i64, supported: i64 },
    #[error("migration {name}: {source}")]
    Migration {
        name: String,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Other(String),
    /// The store is on another node that cannot be reached now (a cluster edge).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// Maps a UNIQUE constraint violation to `Conflict`, so callers can answer 409/400.
    pub fn from_sqlite_unique(err: rusqlite::Error, what: &str) -> StoreError {
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(what.to_string())
            }
            _ => StoreError::Sqlite(err),
        }
    }
}

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

pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";
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

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::WriterGone => ApiError::Unavailable("The server is shutting down.".into()),
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::Internal(other.to_string())
            }
        }
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

impl From<crate::channels::ChannelError> for ApiError {
    fn from(err: crate::channels::ChannelError) -> ApiError {
        use crate::channels::ChannelError as C;
        match err {
            C::NotFound => ApiError::NotFound,
            C::Field { field, reason } => ApiError::Field { field, reason },
            C::BadRequest(m) => ApiError::BadRequest(m),
            C::Unauthenticated => ApiError::Unauthenticated,
            C::Forbidden(m) => ApiError::Forbidden(m),
            e @ C::CustomPublishDisabled => ApiError::Forbidden(e.to_string()),
            e @ C::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            C::Rejected(reason) => ApiError::Rejected(reason),
            C::TriggerError(m) => ApiError::TriggerError(m),
            C::RateLimited => ApiError::RateLimited { retry_after: 1 },
            C::Store(e) => e.into(),
        }
    }
}
