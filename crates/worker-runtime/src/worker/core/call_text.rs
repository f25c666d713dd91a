//! The text of tool calls: the model's arguments checked and shown to
//! clients, results bounded for the model, calls a restart interrupted, and
//! earlier runs' calls as the model saw them.

use yoi_protocol::{Message, ToolCall, ToolCallState};

use crate::provider::{ChatMessage, ChatRole, ChatToolCall};
use crate::tools::{ModelNames, MAX_ARGUMENT_BYTES};

/// The arguments as clients see them: their JSON, or the text when it is
/// not JSON, bounded.
pub(super) fn client_arguments(text: &str) -> serde_json::Value {
    if text.len() <= yoi_protocol::MAX_TOOL_TEXT_FOR_CLIENTS {
        if let Ok(value) = serde_json::from_str(text) {
            return value;
        }
    }
    serde_json::Value::String(yoi_protocol::bound_text(
        text,
        yoi_protocol::MAX_TOOL_TEXT_FOR_CLIENTS,
    ))
}

/// Checks the model's arguments: JSON, an object, and what the schema asks.
pub(super) fn check_arguments(
    text: &str,
    schema: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    if text.len() > MAX_ARGUMENT_BYTES {
        return Err(format!(
            "the arguments are longer than {MAX_ARGUMENT_BYTES} bytes"
        ));
    }
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the arguments are not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the arguments must be a JSON object".to_owned());
    }
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("the tool's schema cannot be used: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(format!(
            "the arguments do not match the tool's schema: {}",
            problems.join("; ")
        ))
    }
}

/// Calls of a message that a restart interrupted: never run again.
pub(super) fn interrupt_calls(calls: &mut [ToolCall]) {
    for call in calls.iter_mut().filter(|c| !c.state.is_final()) {
        call.state = ToolCallState::Interrupted;
        call.summary = Some("interrupted by a restart of yoi; not run again".to_owned());
    }
}

/// An earlier assistant message as the model saw it: each round's text and
/// calls, their results, then the answer.
pub(super) fn history_turns(m: &Message, names: &ModelNames, out: &mut Vec<ChatMessage>) {
    let mut round = 0;
    let mut i = 0;
    let calls = &m.tool_calls;
    while i < calls.len() {
        round = calls[i].round.max(round);
        let this: Vec<&ToolCall> = calls[i..]
            .iter()
            .take_while(|c| c.round == calls[i].round)
            .collect();
        i += this.len();
        out.push(ChatMessage {
            role: ChatRole::Assistant,
            content: this
                .first()
                .and_then(|c| c.text_before.clone())
                .unwrap_or_default(),
            tool_calls: this
                .iter()
                .map(|c| ChatToolCall {
                    id: c.call_id.clone(),
                    name: names
                        .model(&c.name)
                        .map_or_else(|| c.name.replace('.', "__"), str::to_owned),
                    arguments: match &c.arguments {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                })
                .collect(),
            tool_call_id: None,
        });
        for c in this {
            let content = c
                .output
                .clone()
                .or_else(|| c.summary.clone())
                .unwrap_or_default();
            out.push(ChatMessage::tool_result(c.call_id.clone(), content));
        }
    }
    let _ = round;
    if !m.text.is_empty() {
        out.push(ChatMessage::new(ChatRole::Assistant, m.text.clone()));
    }
}

pub(super) fn state_word(state: ToolCallState) -> &'static str {
    match state {
        ToolCallState::WaitingApproval => "waiting for approval",
        ToolCallState::Running => "running",
        ToolCallState::Ok => "ok",
        ToolCallState::Error => "error",
        ToolCallState::Denied => "denied",
        ToolCallState::Cancelled => "cancelled",
        ToolCallState::Interrupted => "interrupted",
    }
}

pub(super) fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    yoi_protocol::message_preview(line)
}

/// A result cut to what the model may get, with a marker it can read.
pub(super) fn bound_for_model(text: &str, most: usize) -> String {
    if text.len() <= most {
        return text.to_owned();
    }
    let mut end = most;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[result truncated: {} of {} bytes shown (tools.result_bytes)]",
        &text[..end],
        end,
        text.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_against_the_schema() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"limit": {"type": "integer", "minimum": 1}},
            "required": ["limit"],
            "additionalProperties": false
        });
        assert!(check_arguments(r#"{"limit": 3}"#, &schema).is_ok());
        let err = check_arguments(r#"{"limit": "x"}"#, &schema).unwrap_err();
        assert!(err.contains("/limit"), "{err}");
        let err = check_arguments("{\"limit\": 3", &schema).unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = check_arguments("[1]", &schema).unwrap_err();
        assert!(err.contains("object"), "{err}");
        let err = check_arguments("{}", &schema).unwrap_err();
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn empty_arguments_mean_an_empty_object() {
        let schema = serde_json::json!({"type": "object"});
        assert_eq!(check_arguments("", &schema), Ok(serde_json::json!({})));
    }

    #[test]
    fn results_past_the_bound_say_so_to_the_model() {
        let cut = bound_for_model(&"x".repeat(100), 10);
        assert!(cut.starts_with("xxxxxxxxxx\n[result truncated: 10 of 100 bytes"));
        assert_eq!(bound_for_model("short", 10), "short");
    }

    #[test]
    fn arguments_for_clients_are_json_or_bounded_text() {
        assert_eq!(client_arguments(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(client_arguments("{oops"), serde_json::json!("{oops"));
    }
}
