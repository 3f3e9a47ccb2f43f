//! The one place where an error becomes an HTTP answer: a status code and the JSON body
//! `{"error":{"code","message"}}`, for domain errors and for poem's own (bad JSON, 404, 405...).

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::error::Error;

#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable snake_case code to match on, e.g. `room_name_taken`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
            },
        })
    }
}

/// Every error answer of the REST API.
#[derive(Debug, ApiResponse)]
pub enum ErrorResponse {
    /// The request is malformed or breaks a rule.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated but not allowed; `insufficient_scope` when the access token lacks the
    /// scope the operation needs.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such room, message or route (a malformed id names nothing, so it is a 404 too); a
    /// private or direct room you are not in is answered exactly the same way.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The name is taken, or the change would leave a room without an owner.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The invite expired or was used up.
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// The request body is over `limits.max_body_bytes` (an upload: over
    /// `attachments.max_bytes`, `too_large`, or the uploader's quota, `quota_exceeded`).
    #[oai(status = 413)]
    TooLarge(Json<ErrorBody>),
    /// The request body is not `application/json`. Produced by poem-openapi before any handler
    /// runs and rendered by [`render`]; declared here so the API description lists it.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many attempts; see `Retry-After`.
    #[oai(status = 429)]
    RateLimited(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A storage failure; the server log has details.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Overloaded or shutting down; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// The server's disk is nearly full: uploads are refused until there is room.
    #[oai(status = 507)]
    InsufficientStorage(Json<ErrorBody>),
}

impl From<Error> for ErrorResponse {
    fn from(err: Error) -> Self {
        let body = ErrorBody::new(err.code(), err.public_message());
        match err {
            Error::Invalid { .. } => Self::BadRequest(body),
            Error::TooLarge(_) | Error::QuotaExceeded(_) => Self::TooLarge(body),
            Error::InsufficientStorage(_) => Self::InsufficientStorage(body),
            Error::NotFound(_) | Error::Unknown { .. } | Error::NotMember => Self::NotFound(body),
            Error::Gone { .. } => Self::Gone(body),
            Error::Conflict { .. } => Self::Conflict(body),
            Error::Forbidden(_)
            | Error::Refused { .. }
            | Error::RegistrationClosed
            | Error::AccountLocked => Self::Forbidden(body),
            Error::NotJoined => Self::Forbidden(body),
            Error::Unauthorized | Error::InvalidCredentials => Self::Unauthorized(body),
            Error::RateLimited { retry_after_secs } => Self::RateLimited(body, retry_after_secs),
            Error::Busy
            | Error::ShuttingDown
            | Error::SaveFailed
            | Error::StorageUnavailable
            | Error::Disabled { .. } => Self::Unavailable(body),
            Error::Storage(inner) => {
                tracing::error!(error = %inner, "storage failure while serving a request");
                Self::Internal(body)
            }
        }
    }
}

impl From<Error> for poem::Error {
    fn from(err: Error) -> Self {
        ErrorResponse::from(err).into()
    }
}

pub type ApiResult<T> = Result<T, ErrorResponse>;

/// Code for an error poem produced before any handler ran, by status.
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::GONE => "gone",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Turns any error that escaped a handler into the JSON error shape. Answers that are already
/// ours (JSON) pass through unchanged.
pub async fn render(err: poem::Error) -> Response {
    let status = err.status();
    if !status.is_client_error() && !status.is_server_error() {
        // Not an error at all (e.g. 304 Not Modified from the asset endpoint).
        return err.into_response();
    }
    let message = err.to_string();
    let response = err.into_response();
    let is_json = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let code = code_for_status(status);
    let message = if status.is_server_error() {
        tracing::error!(%status, error = %message, "request failed");
        "internal error; the server log has details".to_string()
    } else if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    let mut json = ErrorBody::new(code, message).into_response();
    json.set_status(status);
    json
}
