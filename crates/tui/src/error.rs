//! What ends the console with an error, apart from the crate root so that the
//! modules which raise it (`client`, `event_loop`) do not depend on the root
//! that calls them.

/// What ends the console with an error. A server that is down, refuses a
/// request or drops the socket is not one of them: those are states shown
/// in the console.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("`{url}` is not a server address: {reason}")]
    InvalidServerUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("a background task of the console panicked: {0}")]
    TaskPanicked(String),
}
