//! The errors a runtime answers, one enum for every caller and every kind of
//! runtime.

use yoi_protocol::{ApiError, ErrorCode, MessageId, RunId, RuntimeId, ToApiError};

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("no worker {0} in this runtime")]
    WorkerNotFound(String),
    #[error("worker {display_ref} is already running a turn")]
    Busy {
        display_ref: String,
        active_run: RunId,
    },
    #[error("worker {0} has no run in flight")]
    NotRunning(String),
    #[error("the queue of worker {display_ref} is full ({limit} inputs wait); try again when a run ended")]
    QueueFull { display_ref: String, limit: usize },
    #[error("input {0} is not queued (it started, was removed, or never was)")]
    NotQueued(MessageId),
    #[error("no tool call {0} in this worker's runs")]
    UnknownToolCall(String),
    #[error(
        "tool call {0} no longer waits for a decision (it was decided, cancelled or timed out)"
    )]
    NotPending(String),
    #[error("{0}")]
    ProviderUnconfigured(String),
    /// The message names the profile and those the runtime offers.
    #[error("{0}")]
    UnknownProfile(String),
    /// A runtime in another process cannot be reached now.
    #[error("runtime `{0}` cannot be reached")]
    Unavailable(RuntimeId),
    /// An error already in the contract's shape: a run's own error, a
    /// request the contract's limits refuse, or a runtime process's answer.
    #[error("{0}")]
    Api(ApiError),
    /// The runtime's store cannot be used (at start: locked, damaged).
    #[error("{0}")]
    Store(String),
    /// The store cannot write now (disk full, I/O error): nothing of the
    /// request was kept; the same request may succeed later.
    #[error("the runtime cannot save right now (its disk may be full or failing); nothing of this request was kept, try again later")]
    StoreUnavailable,
    /// A configured limit is reached; the message names the limit.
    #[error("{0}")]
    LimitReached(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for RuntimeError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // A page before a message this worker never had: nothing is there.
            crate::store::StoreError::UnknownMessage(_) => {
                RuntimeError::Api(ApiError::new(ErrorCode::NotFound, e.to_string()))
            }
            crate::store::StoreError::Unavailable(_) | crate::store::StoreError::Closed => {
                RuntimeError::StoreUnavailable
            }
            other => RuntimeError::Store(other.to_string()),
        }
    }
}

impl ToApiError for RuntimeError {
    fn to_api_error(&self) -> ApiError {
        match self {
            RuntimeError::InvalidInput(m) => ApiError::new(ErrorCode::InvalidInput, m.clone()),
            RuntimeError::UnknownProfile(_) => {
                ApiError::new(ErrorCode::InvalidInput, self.to_string())
            }
            RuntimeError::WorkerNotFound(_) => {
                ApiError::new(ErrorCode::WorkerNotFound, self.to_string())
            }
            RuntimeError::Busy { active_run, .. } => {
                let mut e = ApiError::new(ErrorCode::Busy, self.to_string());
                e.active_run_id = Some(*active_run);
                e
            }
            RuntimeError::NotRunning(_) => ApiError::new(ErrorCode::NotRunning, self.to_string()),
            RuntimeError::QueueFull { .. } => ApiError::new(ErrorCode::QueueFull, self.to_string()),
            RuntimeError::NotQueued(_) | RuntimeError::UnknownToolCall(_) => {
                ApiError::new(ErrorCode::NotFound, self.to_string())
            }
            RuntimeError::NotPending(_) => ApiError::new(ErrorCode::NotPending, self.to_string()),
            RuntimeError::ProviderUnconfigured(m) => {
                ApiError::new(ErrorCode::ProviderUnconfigured, m.clone())
            }
            RuntimeError::Unavailable(_) => {
                ApiError::new(ErrorCode::RuntimeUnavailable, self.to_string())
            }
            RuntimeError::Api(e) => e.clone(),
            RuntimeError::LimitReached(m) => ApiError::new(ErrorCode::LimitReached, m.clone()),
            RuntimeError::StoreUnavailable => {
                ApiError::new(ErrorCode::StoreUnavailable, self.to_string())
            }
            RuntimeError::Internal(_) | RuntimeError::Store(_) => ApiError::new(
                ErrorCode::Internal,
                "internal error in the runtime; see the server log",
            ),
        }
    }
}

impl RuntimeError {
    pub fn code(&self) -> ErrorCode {
        self.to_api_error().code
    }
}

impl From<ApiError> for RuntimeError {
    fn from(e: ApiError) -> Self {
        RuntimeError::Api(e)
    }
}
