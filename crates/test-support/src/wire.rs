//! The JSON and SSE shapes of OpenAI's chat-completions API, built as values.
//!
//! Kept apart from the HTTP plumbing so that the exact wire format (field names,
//! `null`s, frame separators) can be read in one place.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::reply::{ApiError, Usage};

/// The frame that ends every complete stream.
pub(crate) const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// What every chunk of one completion shares.
#[derive(Clone, Debug)]
pub(crate) struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// Whether the request asked for `stream_options.include_usage`.
    pub include_usage: bool,
}

impl Completion {
    /// A `chat.completion.chunk` with one choice.
    pub fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        });
        if self.include_usage {
            // OpenAI sends `"usage": null` on every chunk but the last when asked for usage.
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The final chunk with no choices and the token counts.
    pub fn usage_chunk(&self, usage: Usage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        })
    }

    /// A whole non-streamed `chat.completion`.
    pub fn full(
        &self,
        content: &str,
        reasoning: Option<&str>,
        finish: &str,
        usage: Usage,
    ) -> Value {
        let mut message = json!({"role": "assistant", "content": content});
        if let Some(reasoning) = reasoning {
            message["reasoning_content"] = Value::from(reasoning);
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage_json(usage),
        })
    }
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens.saturating_add(usage.completion_tokens),
    })
}

/// One SSE frame: `data: <json>\n\n`.
pub(crate) fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// OpenAI's error envelope.
pub(crate) fn error_body(error: &ApiError) -> Value {
    json!({
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": null,
            "code": error.code,
        }
    })
}

/// The `GET /v1/models` list.
pub(crate) fn model_list(models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(
            |id| json!({"id": id, "object": "model", "created": 0, "owned_by": "yoi-test-support"}),
        )
        .collect();
    json!({"object": "list", "data": data})
}
