//! The provider boundary: a conversation in, a stream of deltas out.
//!
//! The Worker does not know which LLM service it talks to. It hands a
//! [`ChatRequest`] to a [`Provider`] and reads [`ProviderEvent`]s until the
//! stream says the model finished. Timeouts and cancellation are the Worker's
//! business, not the provider's: the Worker drops the stream to abort.
//!
//! A Runtime is given a [`ProviderFactory`] and asks it for the provider its
//! configuration names; the implementations live in the `yoi-providers`
//! crate, so that this crate carries no HTTP client.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use yoi_protocol::RunUsage;

use crate::config::ProviderConfig;

/// Who said a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

/// What is sent to the provider: the system prompt, the bounded history, the
/// new message. Nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
}

/// One item of a provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    Text(String),
    Reasoning(String),
    Usage(RunUsage),
    /// The model finished (`stop`, `length`, ...). Only after this is a run complete.
    Finished {
        reason: String,
    },
}

/// How a provider call failed. Messages never carry the API key or a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an HTTP error.
    #[error("the provider answered {status}: {message}")]
    Http { status: u16, message: String },
    /// The provider could not be reached or the connection broke.
    #[error("{0}")]
    Connection(String),
    /// The provider sent something that is not a chat completion stream.
    #[error("{0}")]
    Protocol(String),
}

pub type ProviderStream = BoxStream<'static, Result<ProviderEvent, ProviderError>>;

/// An LLM chat service that streams its answers.
pub trait Provider: Send + Sync + 'static {
    /// `Err(message)` when no request can work; the message says what to set.
    fn check_configured(&self) -> Result<(), String>;

    /// Opens a streaming chat completion.
    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<ProviderStream, ProviderError>>;
}

/// Builds the provider a configuration names ([`ProviderConfig::kind`]).
pub trait ProviderFactory: Send + Sync + 'static {
    fn provider(&self, config: &ProviderConfig) -> Arc<dyn Provider>;
}
