//! The real provider: OpenAI-compatible chat completion streaming against any
//! base URL (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter).
//!
//! The request is one `POST {base_url}/chat/completions` with `stream: true`;
//! the answer is read through [`SseDecoder`], which refuses a line or an
//! event longer than [`MAX_EVENT_BYTES`], and an error answer's body is read
//! up to [`MAX_ERROR_BODY_BYTES`] only. We speak HTTP through reqwest
//! ourselves rather than through async-openai's streaming client: that one
//! buffers a line and an error body without bound, keeps parsed events in an
//! unbounded channel, and logs raw error bodies and unparsable chunks (the
//! conversation, the model's text) at warn and error. There are no retries:
//! a failure reaches the user at once, and the Worker's timeouts mean what
//! they say.

use std::collections::{BTreeMap, VecDeque};

use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use yoi_protocol::RunUsage;

use worker_runtime::config::ProviderConfig;
use worker_runtime::provider::{
    ChatMessage, ChatRequest, ChatRole, ChatToolCall, Provider, ProviderError, ProviderEvent,
    ProviderStream,
};

use crate::redact::clean_message;
use crate::sse::SseDecoder;

/// The longest line, or event, of a provider's stream: no chunk of a chat
/// completion comes near it.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// The most of an error answer's body that is read.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// The most tool calls one turn may make.
pub const MAX_TOOL_CALLS: u32 = 128;

pub struct OpenAiProvider {
    http: reqwest::Client,
    config: ProviderConfig,
}

impl OpenAiProvider {
    pub fn new(config: ProviderConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, config }
    }
}

impl Provider for OpenAiProvider {
    fn check_configured(&self) -> Result<(), String> {
        self.config.check_configured()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> futures::future::BoxFuture<'static, Result<ProviderStream, ProviderError>> {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let key = self.config.api_key.clone().filter(|k| !k.trim().is_empty());
        let mut post = self
            .http
            .post(url)
            .header(ACCEPT, "text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(request_body(&request));
        if let Some(k) = &key {
            post = post.bearer_auth(k);
        }
        Box::pin(async move {
            let response = post.send().await.map_err(|e| connection_error(&e))?;
            if !response.status().is_success() {
                return Err(http_error(response, key.as_deref()).await);
            }
            Ok(answer_events(response.bytes_stream().boxed(), key))
        })
    }
}

/// The request's JSON, written in one pass from borrowed parts (no tree of
/// values, no copy of the history). Keys keep the order serde_json's map
/// gave them before (alphabetical), so the bytes sent are unchanged.
fn request_body(request: &ChatRequest) -> String {
    let body = WireRequest {
        messages: request.messages.iter().map(WireMessage::of).collect(),
        model: &request.model,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        tools: request
            .tools
            .iter()
            .map(|t| WireTool {
                function: WireFunction {
                    description: &t.description,
                    name: &t.name,
                    parameters: &t.parameters,
                },
                kind: "function",
            })
            .collect(),
    };
    // Borrowed strings and maps with string keys: serialising cannot fail.
    // Should it, the provider's answer to an empty body reaches the user.
    serde_json::to_string(&body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a chat request did not serialise");
        String::new()
    })
}

#[derive(Serialize)]
struct WireRequest<'a> {
    messages: Vec<WireMessage<'a>>,
    model: &'a str,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireTool<'a> {
    function: WireFunction<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    description: &'a str,
    name: &'a str,
    parameters: &'a serde_json::Value,
}

/// One message as OpenAI's chat completions API spells it: an assistant
/// turn with its tool calls (its content `null` when it said nothing), a
/// `tool` message with the call it answers.
#[derive(Serialize)]
struct WireMessage<'a> {
    content: Option<&'a str>,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
}

impl<'a> WireMessage<'a> {
    fn of(message: &'a ChatMessage) -> Self {
        if message.role == ChatRole::Assistant && !message.tool_calls.is_empty() {
            return Self {
                content: (!message.content.is_empty()).then_some(message.content.as_str()),
                role: "assistant",
                tool_call_id: None,
                tool_calls: message
                    .tool_calls
                    .iter()
                    .map(|c| WireCall {
                        function: WireCallFunction {
                            arguments: &c.arguments,
                            name: &c.name,
                        },
                        id: &c.id,
                        kind: "function",
                    })
                    .collect(),
            };
        }
        Self {
            content: Some(&message.content),
            role: message.role.as_str(),
            tool_call_id: message.tool_call_id.as_deref(),
            tool_calls: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct WireCall<'a> {
    function: WireCallFunction<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireCallFunction<'a> {
    arguments: &'a str,
    name: &'a str,
}

type Body = BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// Reading an answer: what came off the wire, decoded into provider events.
struct Answer {
    body: Body,
    decoder: SseDecoder,
    ready: VecDeque<Result<ProviderEvent, ProviderError>>,
    /// `[DONE]`, the end of the body, or an error: nothing more is read.
    over: bool,
    key: Option<String>,
    /// Tool calls of this turn by index, assembled from their fragments.
    calls: BTreeMap<u32, ChatToolCall>,
    /// Bytes of names and arguments in `calls`.
    call_bytes: usize,
}

/// The events of a streamed answer. Bytes are read only as fast as the
/// Worker takes events, so a fast provider cannot fill memory either.
fn answer_events(body: Body, key: Option<String>) -> ProviderStream {
    let answer = Answer {
        body,
        decoder: SseDecoder::new(MAX_EVENT_BYTES),
        ready: VecDeque::new(),
        over: false,
        key,
        calls: BTreeMap::new(),
        call_bytes: 0,
    };
    futures::stream::unfold(answer, |mut a| async move {
        loop {
            if let Some(item) = a.ready.pop_front() {
                return Some((item, a));
            }
            if a.over {
                return None;
            }
            match a.body.next().await {
                Some(Ok(bytes)) => a.read(&bytes),
                Some(Err(_)) => a.fail(ProviderError::Connection(
                    "the connection to the provider broke mid-answer".to_owned(),
                )),
                None => {
                    a.flush_calls();
                    a.over = true;
                }
            }
        }
    })
    .boxed()
}

impl Answer {
    fn read(&mut self, bytes: &[u8]) {
        // Out of `self` while it hands over events, which `self` takes.
        let mut decoder = std::mem::replace(&mut self.decoder, SseDecoder::new(0));
        let read = decoder.feed(bytes, |data| self.event(data));
        self.decoder = decoder;
        if let Err(too_long) = read {
            self.fail(ProviderError::Protocol(format!(
                "{too_long}; the answer was stopped"
            )));
        }
    }

    /// One event's data; answers whether to read on.
    fn event(&mut self, data: &str) -> bool {
        if data.trim() == "[DONE]" {
            self.flush_calls();
            self.over = true;
            return false;
        }
        match serde_json::from_str::<Chunk>(data) {
            Ok(chunk) => match self.take(chunk) {
                Ok(()) => true,
                Err(e) => {
                    self.fail(e);
                    false
                }
            },
            // The chunk itself may be the conversation: only say where it broke.
            Err(e) => {
                self.fail(ProviderError::Protocol(format!(
                    "the provider sent a chunk that is not a chat completion ({} at line {} column {})",
                    json_problem(&e),
                    e.line(),
                    e.column()
                )));
                false
            }
        }
    }

    /// The events of one chunk; tool call fragments are kept until the turn ends.
    fn take(&mut self, chunk: Chunk) -> Result<(), ProviderError> {
        if let Some(err) = chunk.error {
            let message = clean_message(&err.message.unwrap_or_default(), self.key.as_deref());
            tracing::warn!(%message, "the provider reported an error mid-answer");
            return Err(ProviderError::Protocol(format!(
                "the provider reported an error mid-stream: {message}"
            )));
        }
        for choice in chunk.choices {
            let reasoning = choice.delta.reasoning_content.or(choice.delta.reasoning);
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                self.ready.push_back(Ok(ProviderEvent::Reasoning(r)));
            }
            if let Some(t) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.ready.push_back(Ok(ProviderEvent::Text(t)));
            }
            for fragment in choice.delta.tool_calls.unwrap_or_default() {
                self.add_call_fragment(fragment)?;
            }
            if let Some(reason) = choice.finish_reason {
                self.flush_calls();
                self.ready.push_back(Ok(ProviderEvent::Finished { reason }));
            }
        }
        if let Some(u) = chunk.usage {
            self.ready.push_back(Ok(ProviderEvent::Usage(RunUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            })));
        }
        Ok(())
    }

    /// Joins one fragment to its call: the id and the name come once (first
    /// one wins), the arguments in pieces.
    fn add_call_fragment(&mut self, fragment: ToolCallDelta) -> Result<(), ProviderError> {
        if fragment.index >= MAX_TOOL_CALLS {
            return Err(ProviderError::Protocol(format!(
                "the provider sent tool call number {}; a turn may hold {MAX_TOOL_CALLS}",
                fragment.index
            )));
        }
        let function = fragment.function.unwrap_or_default();
        let more = [&fragment.id, &function.name, &function.arguments]
            .iter()
            .map(|part| part.as_ref().map_or(0, String::len))
            .fold(0usize, usize::saturating_add);
        self.call_bytes = self.call_bytes.saturating_add(more);
        if self.call_bytes > MAX_EVENT_BYTES {
            return Err(ProviderError::Protocol(format!(
                "the provider's tool calls passed {MAX_EVENT_BYTES} bytes; the answer was stopped"
            )));
        }
        let call = self
            .calls
            .entry(fragment.index)
            .or_insert_with(|| ChatToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
        if let Some(id) = fragment.id.filter(|_| call.id.is_empty()) {
            call.id = id;
        }
        if let Some(name) = function.name.filter(|_| call.name.is_empty()) {
            call.name = name;
        }
        if let Some(arguments) = function.arguments {
            call.arguments.push_str(&arguments);
        }
        Ok(())
    }

    /// The turn ended: every call it made, whole, in index order.
    fn flush_calls(&mut self) {
        self.call_bytes = 0;
        for call in std::mem::take(&mut self.calls).into_values() {
            self.ready.push_back(Ok(ProviderEvent::ToolCall(call)));
        }
    }

    fn fail(&mut self, error: ProviderError) {
        self.ready.push_back(Err(error));
        self.over = true;
    }
}

fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field of the wrong type",
        serde_json::error::Category::Eof => "cut short",
        serde_json::error::Category::Io => "unreadable",
    }
}

/// One `chat.completion.chunk`: the fields we use, including the reasoning
/// that servers other than OpenAI send.
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
    tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A fragment of one tool call (`delta.tool_calls[]`).
#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: u32,
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

/// An error answer: its message (OpenAI's `error.message` when the body is
/// that JSON, else the body), read up to [`MAX_ERROR_BODY_BYTES`], masked
/// and cut short.
async fn http_error(mut response: reqwest::Response, key: Option<&str>) -> ProviderError {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // What was read is all there is to say.
            Ok(None) | Err(_) => break,
        }
    }
    let raw = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| raw.into_owned());
    let message = clean_message(&message, key);
    tracing::warn!(status, %message, "the provider answered with an error");
    ProviderError::Http { status, message }
}

/// reqwest's own text names the URL; describe the failure instead.
fn connection_error(e: &reqwest::Error) -> ProviderError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use worker_runtime::provider::ToolSpec;

    #[test]
    fn the_request_is_the_json_a_tree_of_values_would_write() {
        let mut called = ChatMessage::new(ChatRole::Assistant, "");
        called.tool_calls = vec![ChatToolCall {
            id: "call_1".into(),
            name: "read_file".into(),
            arguments: "{\"path\":\"a \\\"b\\\"\"}".into(),
        }];
        let mut said_and_called = called.clone();
        said_and_called.content = "let me look".into();
        let mut answer = ChatMessage::new(ChatRole::Tool, "contents\n\u{1}é");
        answer.tool_call_id = Some("call_1".into());
        let request = ChatRequest {
            model: "m-1".into(),
            messages: vec![
                ChatMessage::new(ChatRole::System, "be brief"),
                ChatMessage::new(ChatRole::User, "quote \"this\" </script>"),
                called,
                said_and_called,
                answer,
                ChatMessage::new(ChatRole::Assistant, ""),
            ],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "Reads a file".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }],
        };
        let expected = json!({
            "model": "m-1",
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "quote \"this\" </script>"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {
                        "name": "read_file", "arguments": "{\"path\":\"a \\\"b\\\"\"}"}}]},
                {"role": "assistant", "content": "let me look", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {
                        "name": "read_file", "arguments": "{\"path\":\"a \\\"b\\\"\"}"}}]},
                {"role": "tool", "content": "contents\n\u{1}é", "tool_call_id": "call_1"},
                {"role": "assistant", "content": ""},
            ],
            "tools": [{"type": "function", "function": {
                "name": "read_file",
                "description": "Reads a file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            }}],
        });
        // The same bytes, keys in the same order, not only the same value.
        assert_eq!(request_body(&request), expected.to_string());
        let no_tools = ChatRequest {
            tools: Vec::new(),
            ..request
        };
        let body: serde_json::Value = serde_json::from_str(&request_body(&no_tools)).unwrap();
        assert!(body.get("tools").is_none(), "{body}");
    }

    fn read(data: &str) -> Vec<Result<ProviderEvent, ProviderError>> {
        let mut answer = Answer {
            body: futures::stream::empty().boxed(),
            decoder: SseDecoder::new(MAX_EVENT_BYTES),
            ready: VecDeque::new(),
            over: false,
            key: None,
            calls: BTreeMap::new(),
            call_bytes: 0,
        };
        answer.read(data.as_bytes());
        answer.ready.into()
    }

    #[test]
    fn a_chunk_that_does_not_parse_is_described_not_quoted() {
        let items = read(
            "data: {\"usage\":{\"prompt_tokens\":\"the user's secret words\"}}\n\ndata: not json at all\n\n",
        );
        assert_eq!(items.len(), 1, "reading stops at the first bad chunk");
        match &items[0] {
            Err(ProviderError::Protocol(m)) => {
                assert!(!m.contains("secret"), "{m}");
                assert!(m.contains("a field of the wrong type at line 1"), "{m}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn tool_delta(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> String {
        let call =
            json!({"index": index, "id": id, "function": {"name": name, "arguments": arguments}});
        format!(
            "data: {}\n\n",
            json!({"choices": [{"delta": {"tool_calls": [call]}}]})
        )
    }

    #[test]
    fn interleaved_tool_call_fragments_are_joined_per_index() {
        let mut stream = String::new();
        stream += &tool_delta(1, Some("call_b"), Some("b"), "");
        stream += &tool_delta(0, Some("call_a"), Some("a"), "{\"x\"");
        stream += &tool_delta(1, None, None, "{}");
        stream += &tool_delta(0, None, None, ":1}");
        stream += "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n";
        let items: Vec<ProviderEvent> = read(&stream).into_iter().map(Result::unwrap).collect();
        let call = |id: &str, name: &str, arguments: &str| ChatToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        };
        assert_eq!(
            items,
            [
                ProviderEvent::ToolCall(call("call_a", "a", "{\"x\":1}")),
                ProviderEvent::ToolCall(call("call_b", "b", "{}")),
                ProviderEvent::Finished {
                    reason: "tool_calls".to_owned()
                },
            ]
        );
    }

    #[test]
    fn a_tool_call_index_past_the_bound_fails_the_answer() {
        let items = read(&tool_delta(MAX_TOOL_CALLS, Some("c"), Some("n"), "{}"));
        assert!(
            matches!(&items[..], [Err(ProviderError::Protocol(m))] if m.contains("tool call number")),
            "{items:?}"
        );
    }

    #[test]
    fn done_ends_the_answer() {
        let items = read(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n",
        );
        assert_eq!(
            items,
            [
                Ok(ProviderEvent::Text("a".to_owned())),
                Ok(ProviderEvent::Finished {
                    reason: "stop".to_owned()
                })
            ]
        );
    }
}
