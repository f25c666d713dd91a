//! The error envelope every non-2xx answer carries, and the stable codes.

use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::RunId;

/// The stable error codes of the contract. Clients switch on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    Unauthorized,
    ForbiddenOrigin,
    RuntimeNotFound,
    WorkerNotFound,
    Busy,
    NotRunning,
    PayloadTooLarge,
    Unsupported,
    ProviderError,
    RuntimeUnavailable,
    ProviderUnconfigured,
    Timeout,
    Internal,
    /// No such route (an addition to the contract's table).
    NotFound,
    /// The route exists but not with this method (an addition to the contract's table).
    MethodNotAllowed,
    /// Input with `on_busy: queue` while the worker's queue is full.
    QueueFull,
    /// A configured limit is reached (workers, subscribers, connections): an
    /// addition to the contract's table.
    LimitReached,
    /// An approval for a tool call that is no longer waiting (decided,
    /// cancelled or timed out).
    NotPending,
    /// The runtime's store cannot write (disk full, I/O error, read-only
    /// file): nothing of the request was kept. An addition to the contract's table.
    StoreUnavailable,
    /// The worker's profile cannot be used: it is no longer configured, or
    /// its prompt file is gone. The message names it and says what to do.
    /// An addition to the contract's table.
    ProfileMissing,
    /// A search whose `q` holds no word (empty or only spaces).
    QueryEmpty,
    /// A search whose `q` is longer than [`crate::SEARCH_MAX_QUERY_CHARS`].
    QueryTooLong,
}

impl ErrorCode {
    /// The HTTP status the contract pairs with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput | ErrorCode::QueryEmpty | ErrorCode::QueryTooLong => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::ForbiddenOrigin => 403,
            ErrorCode::RuntimeNotFound | ErrorCode::WorkerNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Busy
            | ErrorCode::NotRunning
            | ErrorCode::QueueFull
            | ErrorCode::NotPending
            | ErrorCode::ProfileMissing => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::LimitReached => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unsupported => 501,
            ErrorCode::ProviderError => 502,
            ErrorCode::RuntimeUnavailable
            | ErrorCode::ProviderUnconfigured
            | ErrorCode::StoreUnavailable => 503,
            ErrorCode::Timeout => 504,
        }
    }

    /// Whether the same request may succeed if tried again later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Busy
                | ErrorCode::QueueFull
                | ErrorCode::ProviderError
                | ErrorCode::RuntimeUnavailable
                | ErrorCode::Timeout
                | ErrorCode::LimitReached
                | ErrorCode::StoreUnavailable
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::RuntimeNotFound => "runtime_not_found",
            ErrorCode::WorkerNotFound => "worker_not_found",
            ErrorCode::Busy => "busy",
            ErrorCode::NotRunning => "not_running",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::ProviderError => "provider_error",
            ErrorCode::RuntimeUnavailable => "runtime_unavailable",
            ErrorCode::ProviderUnconfigured => "provider_unconfigured",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::NotPending => "not_pending",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::ProfileMissing => "profile_missing",
            ErrorCode::QueryEmpty => "query_empty",
            ErrorCode::QueryTooLong => "query_too_long",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error: a stable code, words for a person, and whether a retry may help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    /// Set with `busy`: the run that holds the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub active_run_id: Option<RunId>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: code.retryable(),
            active_run_id: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The body of every non-2xx answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ApiError,
}

/// An error that has a place in the contract: every crate's error enum
/// implements it, so that one renderer turns any of them into the envelope.
pub trait ToApiError: fmt::Display {
    fn to_api_error(&self) -> ApiError;
}

impl ToApiError for ApiError {
    fn to_api_error(&self) -> ApiError {
        self.clone()
    }
}
