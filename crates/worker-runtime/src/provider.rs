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
    /// The result of one tool call, answering the assistant's call.
    Tool,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
            ChatRole::Tool => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
    /// The tools an assistant message called.
    pub tool_calls: Vec<ChatToolCall>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The result of call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool call as the model made it (OpenAI `tool_calls`), assembled from
/// its streamed fragments. `name` is the model-facing name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatToolCall {
    pub id: String,
    pub name: String,
    /// JSON text as the model wrote it (it may not be valid JSON).
    pub arguments: String,
}

/// A tool offered to the model (OpenAI `tools`, type `function`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Model-facing name (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// What is sent to the provider: the system prompt, the bounded history, the
/// new message, and the tools the Worker may call. Nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
}

/// One item of a provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    Text(String),
    Reasoning(String),
    Usage(RunUsage),
    /// A tool call of this turn, whole (its fragments assembled); they come
    /// before `Finished` with the reason `tool_calls`.
    ToolCall(ChatToolCall),
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
