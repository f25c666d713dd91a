//! Status lines: every error the backend can answer, in words for a person.
//!
//! The console never stops for an error. A failed send, a refused cancel: each
//! becomes one [`Notice`] line above the composer, chosen by the contract's
//! stable error code, with the server's own message where it says something the
//! person needs (which variable to set). A run that failed at the provider is
//! told in the same words on its answer in the transcript.

use yoi_protocol::{ApiError, ErrorCode};

use crate::client::ClientError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            level: Level::Info,
            text: text.into(),
        }
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            level: Level::Warning,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            level: Level::Error,
            text: text.into(),
        }
    }
}

/// The line for a contract error. `worker` is the display name of the worker
/// the console talks to (`companion`), used to say who is busy.
pub fn describe_api_error(err: &ApiError, worker: &str) -> Notice {
    let msg = err.message.trim();
    match err.code {
        ErrorCode::Busy => Notice::warning(format!(
            "{} is still answering — press Esc to stop it",
            capitalised(worker)
        )),
        ErrorCode::NotRunning => Notice::info("Nothing to cancel — no answer is in flight"),
        ErrorCode::NotPending => Notice::info("That tool call was already decided"),
        ErrorCode::QueueFull => Notice::warning(format!(
            "{}'s queue is full — wait for an answer, or take one back with Ctrl-X",
            capitalised(worker)
        )),
        ErrorCode::WorkerNotFound => {
            Notice::error("This worker no longer exists — press Ctrl-P to pick another")
        }
        ErrorCode::RuntimeNotFound => {
            Notice::error("This worker's runtime is not registered — press Ctrl-P to pick another")
        }
        ErrorCode::RuntimeUnavailable => Notice::error(format!(
            "The worker's runtime cannot be reached right now; try again shortly ({msg})"
        )),
        ErrorCode::StoreUnavailable => Notice::error(format!(
            "The server cannot save right now (its disk may be full); your message is kept, try again shortly ({msg})"
        )),
        ErrorCode::ProviderUnconfigured => {
            Notice::error(format!("No model provider is configured: {msg}"))
        }
        ErrorCode::ProfileMissing => {
            Notice::error(format!("This conversation cannot take input: {msg}"))
        }
        ErrorCode::ProviderError => {
            Notice::error(format!("The model provider answered with an error: {msg}"))
        }
        ErrorCode::Timeout => {
            Notice::error(format!("The model provider did not answer in time: {msg}"))
        }
        ErrorCode::InvalidInput => {
            Notice::warning(format!("The server refused the message: {msg}"))
        }
        ErrorCode::PayloadTooLarge => {
            Notice::warning(format!("That message is too long for the server: {msg}"))
        }
        ErrorCode::QueryEmpty | ErrorCode::QueryTooLong => {
            Notice::warning(format!("The server refused the search: {msg}"))
        }
        ErrorCode::Unauthorized => {
            Notice::error("The server wants a token — set YOI_TOKEN to the server's bearer token")
        }
        ErrorCode::ForbiddenOrigin => {
            Notice::error(format!("The server refused this client: {msg}"))
        }
        ErrorCode::Unsupported => Notice::warning(format!("This runtime cannot do that: {msg}")),
        ErrorCode::LimitReached => {
            Notice::warning(format!("The server is at a limit, try again later: {msg}"))
        }
        ErrorCode::Internal => Notice::error(format!("The server hit an internal error: {msg}")),
        ErrorCode::NotFound | ErrorCode::MethodNotAllowed => Notice::error(format!(
            "The server does not offer this request — is it a yoi server of this version? ({msg})"
        )),
    }
}

/// The line for any failed request.
pub fn describe_client_error(err: &ClientError, worker: &str) -> Notice {
    match err {
        ClientError::Api(api) => describe_api_error(api, worker),
        ClientError::Unreachable(reason) => Notice::error(format!(
            "Cannot reach the server ({reason}) — your message is kept; press Enter to retry"
        )),
        ClientError::Http { status } => Notice::error(format!(
            "The server answered HTTP {status} — is the address a yoi server?"
        )),
        ClientError::Decode(detail) => {
            Notice::error(format!("Unexpected answer from the server: {detail}"))
        }
    }
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "The worker".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode, message: &str) -> ApiError {
        ApiError::new(code, message)
    }

    #[test]
    fn busy_says_who_is_answering_and_how_to_stop_it() {
        let n = describe_api_error(&api(ErrorCode::Busy, "already running"), "companion");
        assert_eq!(
            n.text,
            "Companion is still answering — press Esc to stop it"
        );
        assert_eq!(n.level, Level::Warning);
    }

    #[test]
    fn provider_unconfigured_shows_the_servers_advice() {
        let n = describe_api_error(
            &api(ErrorCode::ProviderUnconfigured, "set OPENAI_API_KEY"),
            "companion",
        );
        assert!(n.text.contains("set OPENAI_API_KEY"), "{}", n.text);
    }

    #[test]
    fn every_code_has_a_readable_line() {
        let codes = [
            ErrorCode::InvalidInput,
            ErrorCode::Unauthorized,
            ErrorCode::ForbiddenOrigin,
            ErrorCode::RuntimeNotFound,
            ErrorCode::WorkerNotFound,
            ErrorCode::Busy,
            ErrorCode::NotRunning,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Unsupported,
            ErrorCode::ProviderError,
            ErrorCode::RuntimeUnavailable,
            ErrorCode::ProviderUnconfigured,
            ErrorCode::Timeout,
            ErrorCode::Internal,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::LimitReached,
            ErrorCode::StoreUnavailable,
        ];
        for code in codes {
            let n = describe_api_error(&api(code, "detail"), "companion");
            assert!(!n.text.is_empty());
            assert!(
                !n.text.starts_with(&format!("{code}:")),
                "not the raw code: {}",
                n.text
            );
        }
    }

    #[test]
    fn transport_failures_say_the_draft_is_kept() {
        let n = describe_client_error(&ClientError::Unreachable("connection refused".into()), "x");
        assert!(n.text.contains("kept"));
    }
}
