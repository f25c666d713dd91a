//! What the mock saw: [`RecordedRequest`].

use serde_json::Value;

/// One chat-completions request as the mock received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The JSON body. A body that was not valid JSON is kept as a JSON string.
    pub body: Value,
    /// The `Authorization` header, e.g. `"Bearer sk-test"`.
    pub authorization: Option<String>,
    /// The request path, e.g. `"/v1/chat/completions"`.
    pub path: String,
}

impl RecordedRequest {
    /// The `(role, content)` pairs of `body.messages`, in order. Content given as an
    /// array of parts is flattened to the concatenation of its `text` parts.
    pub fn messages(&self) -> Vec<(String, String)> {
        messages_of(&self.body)
    }

    /// The `model` of the request, if it named one.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// Whether the request asked for a streamed answer (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        is_stream(&self.body)
    }
}

pub(crate) fn messages_of(body: &Value) -> Vec<(String, String)> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            (role.to_owned(), content_text(m.get("content")))
        })
        .collect()
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

pub(crate) fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn include_usage(body: &Value) -> bool {
    body.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The content of the last `user` message, or `""`.
pub(crate) fn last_user_message(body: &Value) -> String {
    messages_of(body)
        .into_iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, content)| content)
        .unwrap_or_default()
}

/// The name the request's `tools` give `name`: itself, or the tool whose
/// name is `name` with `.` spelled `__`; `name` when none matches (a test of
/// a tool the model was not offered).
pub(crate) fn tool_name(body: &Value, name: &str) -> String {
    let spelled = name.replace('.', "__");
    let offered: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    offered
        .iter()
        .find(|n| **n == name || **n == spelled)
        .map_or_else(|| name.to_owned(), |n| (*n).to_owned())
}

/// Turns with tool calls since the last user message, and the results of
/// the last one (`(call id, content)` of each `tool` message after it).
pub(crate) fn tool_progress(body: &Value) -> (usize, Vec<(String, String)>) {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let start = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map_or(0, |i| i + 1);
    let mut rounds = 0;
    let mut results = Vec::new();
    for m in &messages[start..] {
        match m.get("role").and_then(Value::as_str) {
            Some("assistant") if m.get("tool_calls").is_some() => {
                rounds += 1;
                results.clear();
            }
            Some("tool") => results.push((
                m.get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                content_text(m.get("content")),
            )),
            _ => {}
        }
    }
    (rounds, results)
}

/// A rough prompt token count: words in all messages plus a few per message.
pub(crate) fn rough_prompt_tokens(body: &Value) -> u64 {
    messages_of(body)
        .iter()
        .map(|(_, content)| content.split_whitespace().count() as u64 + 3)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_flattens_content_parts() {
        let body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ]});
        assert_eq!(
            messages_of(&body),
            vec![
                ("system".to_owned(), "be brief".to_owned()),
                ("user".to_owned(), "ab".to_owned())
            ]
        );
        assert_eq!(last_user_message(&body), "ab");
    }

    #[test]
    fn missing_messages_are_empty() {
        assert!(messages_of(&json!({})).is_empty());
        assert_eq!(last_user_message(&json!({"messages": 3})), "");
    }
}
