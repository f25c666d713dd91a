//! The provider boundary: a conversation in, a stream of deltas out.
//!
//! The Worker does not know which LLM service it talks to. It hands a
//! [`ChatRequest`] to a [`Provider`] and reads [`ProviderEvent`]s until the
//! stream says the model finished. Timeouts and cancellation are the Worker's
//! business, not the provider's: the Worker drops the stream to abort.
//!
//! With tools, the Worker hands a [`ProviderRequest`] to
//! [`Provider::stream_request`] instead: the tools the model may call
//! ([`ToolSpec`], by model-facing name), and a conversation that holds the
//! model's earlier [`ToolCall`]s and their results. The model's calls come
//! back whole, one [`ProviderEvent::ToolCall`] each, before `Finished`.
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

/// A tool the model may call, as the model sees it: `name` is the
/// model-facing name (see `tools::names`), `parameters` a JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// One tool call the model made, whole: the id the provider gave it, the
/// model-facing name, and the arguments as the model wrote them (JSON text,
/// not checked here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of a conversation that may hold tool calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderMessage {
    /// A system, user or assistant message of text.
    Chat(ChatMessage),
    /// An assistant turn that called tools (with whatever text came first).
    ToolCalls {
        content: String,
        calls: Vec<ToolCall>,
    },
    /// What one call returned, for the model to read.
    ToolResult { call_id: String, content: String },
}

/// A request that may offer tools and carry earlier calls and their results.
/// A [`ChatRequest`] is the same with no tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    pub model: String,
    pub messages: Vec<ProviderMessage>,
    pub tools: Vec<ToolSpec>,
}

impl From<ChatRequest> for ProviderRequest {
    fn from(request: ChatRequest) -> Self {
        ProviderRequest {
            model: request.model,
            messages: request
                .messages
                .into_iter()
                .map(ProviderMessage::Chat)
                .collect(),
            tools: Vec::new(),
        }
    }
}

/// One item of a provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    Text(String),
    Reasoning(String),
    Usage(RunUsage),
    /// One tool call, whole: sent once per call, in `index` order, when the
    /// model's turn ends (before [`ProviderEvent::Finished`], whose reason is
    /// then `tool_calls`).
    ToolCall {
        index: u32,
        call: ToolCall,
    },
    /// The model finished (`stop`, `length`, `tool_calls`, ...). Only after
    /// this is a run complete.
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

    /// Opens a streaming chat completion that may offer tools; the stream
    /// may then yield [`ProviderEvent::ToolCall`]s. A provider that knows no
    /// tools takes a request without any and refuses the others.
    fn stream_request(
        &self,
        request: ProviderRequest,
    ) -> BoxFuture<'static, Result<ProviderStream, ProviderError>> {
        match plain_chat(request) {
            Some(chat) => self.stream(chat),
            None => Box::pin(async {
                Err(ProviderError::Protocol(
                    "this provider cannot offer tools to the model".to_owned(),
                ))
            }),
        }
    }
}

/// The request as a [`ChatRequest`], when it has no tools and no tool messages.
fn plain_chat(request: ProviderRequest) -> Option<ChatRequest> {
    if !request.tools.is_empty() {
        return None;
    }
    let messages = request
        .messages
        .into_iter()
        .map(|m| match m {
            ProviderMessage::Chat(m) => Some(m),
            ProviderMessage::ToolCalls { .. } | ProviderMessage::ToolResult { .. } => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ChatRequest {
        model: request.model,
        messages,
    })
}

/// Builds the provider a configuration names ([`ProviderConfig::kind`]).
pub trait ProviderFactory: Send + Sync + 'static {
    fn provider(&self, config: &ProviderConfig) -> Arc<dyn Provider>;
}
