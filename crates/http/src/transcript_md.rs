//! A worker's whole conversation as Markdown (`GET .../transcript.md`), for
//! scripts and for keeping: every message from the first, each tool call
//! with its arguments and (bounded) result. Pages of the history are read
//! oldest last, then written oldest first.

use worker_runtime::{RuntimeApi, RuntimeError};
use yoi_protocol::{Message, Role, ToolCall, TranscriptPage, WorkerDetail, WorkerId};

/// Messages read per page of the history.
const PAGE: usize = 1000;
/// At most this much of one tool call's result (or arguments) is written;
/// more is cut, with a line saying so.
pub const RESULT_BYTES: usize = 4096;

/// Every message of the worker, oldest first.
pub async fn whole_history(
    runtime: &dyn RuntimeApi,
    worker_id: WorkerId,
) -> Result<Vec<Message>, RuntimeError> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = runtime
            .transcript(
                worker_id,
                TranscriptPage {
                    limit: PAGE,
                    before,
                },
            )
            .await?;
        before = page.messages.first().map(|m| m.id);
        let more = page.truncated && before.is_some();
        pages.push(page.messages);
        if !more {
            break;
        }
    }
    Ok(pages.into_iter().rev().flatten().collect())
}

/// The conversation as a Markdown document.
pub fn render(worker: &WorkerDetail, messages: &[Message]) -> String {
    let mut out = format!(
        "# {}\n\nProfile `{}`, {} messages.\n",
        worker.summary.display_ref,
        worker.summary.profile.name,
        messages.len()
    );
    for m in messages {
        let who = match (&m.role, &m.sender) {
            (Role::User, Some(sender)) => sender.as_str(),
            (Role::User, None) => "You",
            (Role::Assistant, _) => "Assistant",
        };
        out.push_str(&format!("\n## {who} · {}\n\n", m.at));
        for call in &m.tool_calls {
            write_call(&mut out, call);
        }
        if !m.text.trim().is_empty() {
            out.push_str(m.text.trim_end());
            out.push('\n');
        }
        match (&m.state, &m.error) {
            (yoi_protocol::MessageState::Cancelled, _) => out.push_str("\n_(stopped)_\n"),
            (yoi_protocol::MessageState::Failed, Some(e)) => {
                out.push_str(&format!("\n_(failed: {})_\n", e.message));
            }
            (yoi_protocol::MessageState::Failed, None) => out.push_str("\n_(failed)_\n"),
            _ => {}
        }
    }
    out
}

fn write_call(out: &mut String, call: &ToolCall) {
    if let Some(before) = call.text_before.as_deref().filter(|t| !t.trim().is_empty()) {
        out.push_str(before.trim_end());
        out.push_str("\n\n");
    }
    let state = serde_json::to_value(call.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    out.push_str(&format!("**Tool call** `{}` ({state})\n\n", call.name));
    let arguments = match &call.arguments {
        serde_json::Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    fenced(out, "Arguments", &arguments);
    if let Some(output) = &call.output {
        fenced(out, "Result", output);
    } else if let Some(summary) = &call.summary {
        out.push_str(&format!("Result: {summary}\n\n"));
    }
}

/// `text` in a fence longer than any run of backticks it holds, cut at
/// [`RESULT_BYTES`].
fn fenced(out: &mut String, label: &str, text: &str) {
    let mut end = text.len().min(RESULT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let shown = &text[..end];
    let longest = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    out.push_str(&format!("{label}:\n\n{fence}\n{shown}\n{fence}\n"));
    if end < text.len() {
        out.push_str(&format!(
            "\n_({} more bytes not shown)_\n",
            text.len() - end
        ));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_fence_outlasts_the_backticks_it_holds_and_long_results_are_cut() {
        let mut out = String::new();
        fenced(&mut out, "Result", "a ```` b");
        assert!(out.contains("`````\na ```` b\n`````"), "{out}");
        let mut out = String::new();
        fenced(&mut out, "Result", &"é".repeat(RESULT_BYTES));
        assert!(
            out.contains(&format!("_({} more bytes not shown)_", RESULT_BYTES)),
            "{out}"
        );
    }
}
