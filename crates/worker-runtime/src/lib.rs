//! The worker runtime: hosts LLM Workers as actors.
//!
//! - [`Runtime`] is the handle to a `RuntimeActor`, which creates, lists,
//!   stops and supervises Workers.
//! - Each Worker is a `WorkerActor` ([`worker`]): single-flight input, cancel,
//!   first-token and whole-run timeouts, and exactly one terminal event per run.
//! - A Worker's [`event_log`] numbers its events gaplessly from 1, keeps a
//!   bounded ring, and feeds [`Subscription`]s that follow the cursor rules of
//!   the contract; its [`transcript`] is the bounded projection UIs render.
//! - The [`provider`] boundary turns a conversation into a stream of deltas;
//!   [`provider::OpenAiProvider`] speaks to any OpenAI-compatible endpoint.
//! - [`profile`] builds Worker profiles from the prompt resources in `prompts/`.
//! - Behind the `server` feature, [`server`] serves a Runtime's `/v1` routes
//!   and event sockets, for a Runtime that runs as a process of its own.
//! - [`persist`] keeps Workers (transcript, usage, `seq`) across restarts when
//!   the Runtime has a state directory.
//!
//! Data flows one way: a command reaches a Worker actor, which appends events
//! to its log; subscribers read the log. Wire types come from `yoi-protocol`.

pub mod config;
pub mod error;
pub mod event_log;
pub mod persist;
pub mod profile;
pub mod provider;
pub mod runtime;
#[cfg(feature = "server")]
pub mod server;
pub mod subscription;
pub mod transcript;
pub mod worker;

pub use config::{ProviderConfig, RuntimeConfig};
pub use error::RuntimeError;
pub use event_log::EventFrame;
pub use runtime::Runtime;
pub use subscription::{FrameSource, Subscription};

/// Checks a user message: not blank, at most [`yoi_protocol::MAX_INPUT_TEXT_BYTES`].
pub fn validate_input_text(text: &str) -> Result<(), RuntimeError> {
    if text.trim().is_empty() {
        return Err(RuntimeError::InvalidInput(
            "text must not be empty".to_owned(),
        ));
    }
    if text.len() > yoi_protocol::MAX_INPUT_TEXT_BYTES {
        return Err(RuntimeError::InvalidInput(format!(
            "text is {} bytes; the limit is {} bytes",
            text.len(),
            yoi_protocol::MAX_INPUT_TEXT_BYTES
        )));
    }
    Ok(())
}

/// Checks a Worker's display name: 1 to 64 characters, no control characters, no `@`.
pub fn validate_display_name(name: &str) -> Result<String, RuntimeError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || c == '@')
    {
        return Err(RuntimeError::InvalidInput(
            "display_name must be 1 to 64 characters without control characters or '@'".to_owned(),
        ));
    }
    Ok(name.to_owned())
}
