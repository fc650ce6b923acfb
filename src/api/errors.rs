//! How domain and storage errors become the REST dialect's `ApiError` — the one place
//! for the `{"detail": …}` routes (other dialects map in their own routers).

use crate::channels::ChannelError;
use crate::error::ApiError;
use crate::store::StoreError;

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

impl From<ChannelError> for ApiError {
    fn from(err: crate::channels::ChannelError) -> ApiError {
        use ChannelError as C;
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
