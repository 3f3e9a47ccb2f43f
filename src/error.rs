//! The domain's one error type. Transports turn it into an answer in exactly one place each:
//! `http::error` for REST, `ws::protocol` for WebSocket error frames. Both use `code()`.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule; `code` is specific (`invalid_username`, ...).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    /// The user's attachments would take more than `attachments.user_quota`.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The disk is nearly full (`attachments.min_free_disk`): uploads wait until there is room.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Something other than the room in the path is missing (`user_not_found`, ...).
    #[error("{message}")]
    Unknown { code: &'static str, message: String },
    #[error("you are not a member of this room")]
    NotMember,
    /// It existed, but can no longer be used (`invite_expired`, `invite_used_up`).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// Authenticated, but this credential or account may not do this, with a specific code
    /// (`insufficient_scope`: the access token lacks a scope; `admin_required`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("this account is locked; ask an administrator")]
    AccountLocked,
    #[error("registration is closed on this server")]
    RegistrationClosed,
    #[error("join the room before sending to it")]
    NotJoined,
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the server is busy; try again shortly")]
    Busy,
    /// A feature switched off in this server's config (`push_disabled`).
    #[error("{message}")]
    Disabled { code: &'static str, message: String },
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The disk refused a write or flush; nothing was acknowledged, so a retry is safe.
    #[error("the message could not be saved; try again")]
    SaveFailed,
    /// The database refuses writes (disk full, I/O error); the server is about to shut down and
    /// reopen it (`confab serve`), which it retries until there is room again.
    #[error("the server cannot write to its disk; try again shortly")]
    StorageUnavailable,
    #[error("storage failure")]
    Storage(StoreError),
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Sled(sled::Error::Io(io)) => {
                tracing::error!(error = %io, "the database refused an operation");
                Self::StorageUnavailable
            }
            other => Self::Storage(other),
        }
    }
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unknown(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unknown {
            code,
            message: message.into(),
        }
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::Gone {
            code,
            message: message.into(),
        }
    }

    /// The stable, snake_case code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unknown { code, .. }
            | Self::Gone { code, .. }
            | Self::Disabled { code, .. }
            | Self::Refused { code, .. } => code,
            Self::NotMember => "not_member",
            Self::TooLarge(_) => "too_large",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::InsufficientStorage(_) => "insufficient_storage",
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountLocked => "account_locked",
            Self::RegistrationClosed => "registration_closed",
            Self::NotJoined => "not_joined",
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy => "busy",
            Self::ShuttingDown => "shutting_down",
            Self::SaveFailed | Self::StorageUnavailable => "storage_failed",
            Self::Storage(_) => "internal",
        }
    }

    /// The message shown to clients: never the internals of a storage failure.
    pub fn public_message(&self) -> String {
        match self {
            Self::Storage(_) => "internal error; the server log has details".to_string(),
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
