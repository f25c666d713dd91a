//! The real provider: OpenAI-compatible chat completion streaming through
//! async-openai, against any base URL (OpenAI, Ollama, vLLM, llama.cpp...).
//!
//! async-openai's typed chunks drop `reasoning_content`, so we use its
//! bring-your-own-types (`byot`) entry point with our own chunk type. Its
//! default executor retries 429 and 500 on its own; we install the plain
//! reqwest service instead, so a failure reaches the user at once and the
//! Worker's timeouts mean what they say.

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::Client;
use futures::future::BoxFuture;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use yoi_protocol::RunUsage;

use worker_runtime::config::ProviderConfig;
use worker_runtime::provider::{
    ChatRequest, ChatToolCall, Provider, ProviderError, ProviderEvent, ProviderStream,
};

pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    config: ProviderConfig,
}

impl OpenAiProvider {
    pub fn new(config: ProviderConfig) -> Self {
        let mut openai = OpenAIConfig::new().with_api_base(config.base_url.trim_end_matches('/'));
        if let Some(key) = &config.api_key {
            openai = openai.with_api_key(key.clone());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let client = Client::with_config(openai).with_http_service(ReqwestService::new(http));
        Self { client, config }
    }
}

impl Provider for OpenAiProvider {
    fn check_configured(&self) -> Result<(), String> {
        self.config.check_configured()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<ProviderStream, ProviderError>> {
        let client = self.client.clone();
        let key = self.config.api_key.clone();
        let body = request_body(&request);
        Box::pin(async move {
            let chat = client.chat();
            let stream = chat
                .create_stream_byot::<_, Chunk>(body)
                .await
                .map_err(|e| map_error(e, key.as_deref()))?;
            let key_for_stream = key.clone();
            let mut calls = ToolCallParts::default();
            let events = stream.flat_map(move |item| {
                let out: Vec<Result<ProviderEvent, ProviderError>> = match item {
                    Ok(chunk) => chunk.into_events(key_for_stream.as_deref(), &mut calls),
                    Err(e) => vec![Err(map_error(e, key_for_stream.as_deref()))],
                };
                futures::stream::iter(out)
            });
            Ok(events.boxed())
        })
    }
}

/// Most bytes of one tool call's arguments (what a worker takes anyway).
const MAX_TOOL_ARGUMENTS: usize = worker_runtime::tools::MAX_ARGUMENT_BYTES;

/// The request's JSON: messages (with tool calls and results) and tools.
fn request_body(request: &ChatRequest) -> serde_json::Value {
    let messages: Vec<serde_json::Value> = request
        .messages
        .iter()
        .map(|m| {
            let mut message = json!({"role": m.role.as_str(), "content": m.content});
            if !m.tool_calls.is_empty() {
                message["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })
                    })
                    .collect();
            }
            if let Some(id) = &m.tool_call_id {
                message["tool_call_id"] = json!(id);
            }
            message
        })
        .collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                })
            })
            .collect();
    }
    body
}

/// One `chat.completion.chunk`, with the fields async-openai's own type drops.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    /// Some servers report a failure inside the stream.
    #[serde(default)]
    error: Option<StreamErrorBody>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// vLLM, DeepSeek, llama.cpp and others.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Ollama and OpenRouter.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

/// A fragment of one tool call: the first names it, the rest add to its
/// arguments; `index` says which call of the turn it belongs to.
#[derive(Debug, Default, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Most tool calls one turn may make.
const MAX_TOOL_CALLS: usize = 64;

/// The tool calls of the turn being streamed, assembled per index.
#[derive(Debug, Default)]
struct ToolCallParts {
    calls: Vec<ChatToolCall>,
}

impl ToolCallParts {
    fn add(&mut self, delta: ToolCallDelta) -> Result<(), ProviderError> {
        if delta.index >= MAX_TOOL_CALLS {
            return Err(ProviderError::Protocol(format!(
                "the model made more than {MAX_TOOL_CALLS} tool calls in one turn"
            )));
        }
        while self.calls.len() <= delta.index {
            self.calls.push(ChatToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
        }
        let call = &mut self.calls[delta.index];
        if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
            call.id = id;
        }
        if let Some(function) = delta.function {
            if let Some(name) = function.name {
                call.name.push_str(&name);
            }
            if let Some(arguments) = function.arguments {
                if call.arguments.len() + arguments.len() > MAX_TOOL_ARGUMENTS {
                    return Err(ProviderError::Protocol(format!(
                        "the arguments of a tool call passed {MAX_TOOL_ARGUMENTS} bytes"
                    )));
                }
                call.arguments.push_str(&arguments);
            }
        }
        Ok(())
    }

    /// The calls assembled so far, each with an id (made up when the
    /// server sent none), in index order.
    fn take(&mut self) -> Vec<ChatToolCall> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.name.is_empty())
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct StreamErrorBody {
    #[serde(default)]
    message: Option<String>,
}

impl Chunk {
    fn into_events(
        self,
        key: Option<&str>,
        calls: &mut ToolCallParts,
    ) -> Vec<Result<ProviderEvent, ProviderError>> {
        let mut out = Vec::new();
        if let Some(err) = self.error {
            let message = err.message.unwrap_or_default();
            out.push(Err(ProviderError::Protocol(format!(
                "the provider reported an error mid-stream: {}",
                clean_message(&message, key)
            ))));
            return out;
        }
        for choice in self.choices {
            let reasoning = choice.delta.reasoning_content.or(choice.delta.reasoning);
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                out.push(Ok(ProviderEvent::Reasoning(r)));
            }
            if let Some(t) = choice.delta.content.filter(|t| !t.is_empty()) {
                out.push(Ok(ProviderEvent::Text(t)));
            }
            for delta in choice.delta.tool_calls {
                if let Err(e) = calls.add(delta) {
                    out.push(Err(e));
                    return out;
                }
            }
            if let Some(reason) = choice.finish_reason {
                out.extend(
                    calls
                        .take()
                        .into_iter()
                        .map(|c| Ok(ProviderEvent::ToolCall(c))),
                );
                out.push(Ok(ProviderEvent::Finished { reason }));
            }
        }
        if let Some(u) = self.usage {
            out.push(Ok(ProviderEvent::Usage(RunUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            })));
        }
        out
    }
}

/// The longest provider message passed on, in characters.
const MESSAGE_LIMIT: usize = 500;

fn redact(message: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 => message.replace(k, "<redacted>"),
        _ => message.to_owned(),
    }
}

/// A provider's words as clients may see them: the key redacted first (so
/// that a cut cannot leave part of it), then at most [`MESSAGE_LIMIT`]
/// characters.
fn clean_message(message: &str, key: Option<&str>) -> String {
    let redacted = redact(message.trim(), key);
    if redacted.is_empty() {
        return "no message".to_owned();
    }
    let mut chars = redacted.chars();
    let mut out: String = chars.by_ref().take(MESSAGE_LIMIT).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

fn map_error(e: OpenAIError, key: Option<&str>) -> ProviderError {
    match e {
        OpenAIError::ApiError(resp) => {
            let raw = resp.api_error.message.trim();
            // A server error's message is its raw body, often OpenAI's error JSON.
            let message = serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| raw.to_owned());
            ProviderError::Http {
                status: resp.status_code.as_u16(),
                message: clean_message(&message, key),
            }
        }
        OpenAIError::Reqwest(e) => {
            // reqwest's own text names the URL; describe the failure instead.
            let what = if e.is_connect() {
                "could not connect to the provider"
            } else if e.is_timeout() {
                "the connection to the provider timed out"
            } else if e.is_body() || e.is_decode() {
                "the connection to the provider broke mid-answer"
            } else {
                "the request to the provider failed"
            };
            ProviderError::Connection(what.to_owned())
        }
        OpenAIError::StreamError(_) => {
            ProviderError::Connection("the connection to the provider broke mid-answer".to_owned())
        }
        OpenAIError::JSONDeserialize(err, _) => ProviderError::Protocol(format!(
            "the provider sent a chunk that is not a chat completion: {}",
            clean_message(&err.to_string(), key)
        )),
        OpenAIError::InvalidArgument(m) => ProviderError::Protocol(clean_message(&m, key)),
        other => ProviderError::Protocol(clean_message(&other.to_string(), key)),
    }
}
