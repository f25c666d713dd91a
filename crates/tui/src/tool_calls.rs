//! Tool calls as the terminal console shows them, and the calls that wait
//! for a person.
//!
//! A run's calls hang off its answer ([`crate::transcript::Body::Assistant`]):
//! while the run streams, each call is placed after the text streamed before
//! it (its `offset`); once `assistant_message` arrives, the message's own
//! `tool_calls` (the server's record, kept across reloads) take their place,
//! each turn's `text_before` put back before its calls. So the answer reads
//! in the order it happened: text, `⚙` calls, more text.

use yoi_protocol::{
    Message, PendingApproval, RunId, Timestamp, ToolCall, ToolCallState, WorkerRef,
};

/// Most characters of a call's arguments on its one line.
pub const ARGS_ON_LINE: usize = 60;
/// Most lines of a call's result shown when calls are unfolded.
pub const RESULT_LINES: usize = 12;

/// One call of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    pub call_id: String,
    pub name: String,
    /// The arguments as compact JSON (or the model's text when not JSON).
    pub arguments: String,
    pub state: ToolCallState,
    pub summary: Option<String>,
    pub output: Option<String>,
    pub duration_ms: Option<u64>,
    /// When it started running, to measure its duration from the events.
    pub started_at: Option<Timestamp>,
    /// How many bytes of the answer's text come before it.
    pub offset: usize,
}

/// Compact JSON of a call's arguments; their text when they are a string
/// (arguments that were not JSON arrive so).
pub fn arguments_text(arguments: &serde_json::Value) -> String {
    match arguments {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pretty JSON of the arguments, for the unfolded view.
pub fn arguments_pretty(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| arguments.to_owned())
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The words of a state on a call's line.
pub fn state_word(state: ToolCallState) -> &'static str {
    match state {
        ToolCallState::WaitingApproval => "waiting for approval",
        ToolCallState::Running => "running…",
        ToolCallState::Ok => "ok",
        ToolCallState::Error => "error",
        ToolCallState::Denied => "denied",
        ToolCallState::Cancelled => "cancelled",
        ToolCallState::Interrupted => "interrupted",
    }
}

/// A duration as a person reads it: `12 ms`, `3.4 s`, `2 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{}.{} s", ms / 1000, (ms % 1000) / 100),
        _ => format!("{} min {} s", ms / 60_000, (ms / 1000) % 60),
    }
}

/// A call's one line: `⚙ yoi.list_workers {"limit":5} → ok 12 ms`.
pub fn call_line(call: &CallLine) -> String {
    let mut line = format!(
        "⚙ {} {} → {}",
        call.name,
        cut(&call.arguments, ARGS_ON_LINE),
        state_word(call.state)
    );
    if let Some(ms) = call.duration_ms.filter(|_| call.state.is_final()) {
        line.push(' ');
        line.push_str(&duration(ms));
    }
    line
}

/// The calls of a finished answer from the message's record, and the text
/// they sit in: each turn's `text_before`, then the last turn's answer.
pub fn from_message(message: &Message) -> Option<(String, Vec<CallLine>)> {
    if message.tool_calls.is_empty() {
        return None;
    }
    let mut calls: Vec<&ToolCall> = message.tool_calls.iter().collect();
    // Stable: calls of one turn keep their order.
    calls.sort_by_key(|c| c.round);
    let mut text = String::new();
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        if let Some(before) = c.text_before.as_deref() {
            text.push_str(before);
        }
        out.push(CallLine {
            call_id: c.call_id.clone(),
            name: c.name.clone(),
            arguments: arguments_text(&c.arguments),
            state: c.state,
            summary: c.summary.clone(),
            output: c.output.clone(),
            duration_ms: c.duration_ms,
            started_at: None,
            offset: text.len(),
        });
    }
    text.push_str(&message.text);
    Some((text, out))
}

/// The calls waiting for a person, oldest first, with what answering needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    items: Vec<PendingApproval>,
    /// Calls whose decision is on its way (a second key press sends nothing).
    deciding: Vec<String>,
}

impl Approvals {
    pub fn items(&self) -> &[PendingApproval] {
        &self.items
    }

    /// The call the prompt asks about: the oldest.
    pub fn head(&self) -> Option<&PendingApproval> {
        self.items.first()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn replace(&mut self, items: Vec<PendingApproval>) {
        self.deciding
            .retain(|id| items.iter().any(|p| &p.call_id == id));
        self.items = items;
    }

    pub fn push(&mut self, approval: PendingApproval) {
        if !self.items.iter().any(|p| p.call_id == approval.call_id) {
            self.items.push(approval);
        }
    }

    pub fn remove(&mut self, call_id: &str) {
        self.items.retain(|p| p.call_id != call_id);
        self.deciding.retain(|id| id != call_id);
    }

    /// A run ended: none of its calls waits any more.
    pub fn end_run(&mut self, run_id: RunId) {
        self.items.retain(|p| p.run_id != run_id);
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.deciding.clear();
    }

    /// Marks the head as being decided; `None` when there is none or its
    /// decision is already on its way.
    pub fn start_deciding(&mut self) -> Option<String> {
        let id = self.head()?.call_id.clone();
        if self.deciding.contains(&id) {
            return None;
        }
        self.deciding.push(id.clone());
        Some(id)
    }

    /// The decision's answer came: the call may be decided again if it failed.
    pub fn done_deciding(&mut self, call_id: &str) {
        self.deciding.retain(|id| id != call_id);
    }

    pub fn is_deciding(&self, call_id: &str) -> bool {
        self.deciding.iter().any(|id| id == call_id)
    }
}

/// The prompt at the bottom: `Allow yoi.ask_worker {"worker":"notes"}? [y]es
/// once / [a]lways here / [n]o`, and how many more wait.
pub fn prompt_text(approvals: &Approvals) -> Option<String> {
    let head = approvals.head()?;
    let more = approvals.items().len() - 1;
    let queue = if more > 0 {
        format!(" ({more} more waiting)")
    } else {
        String::new()
    };
    Some(format!(
        "Allow {} {}? [y]es once / [a]lways here / [n]o{queue}",
        head.name,
        cut(&arguments_text(&head.arguments), ARGS_ON_LINE)
    ))
}

/// Where a decision goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionTarget {
    pub worker: WorkerRef,
    pub call_id: String,
}

#[cfg(test)]
#[path = "tool_calls_tests.rs"]
mod console_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::{MessageId, MessageState, Role};

    fn call(id: &str, round: u32, before: Option<&str>) -> ToolCall {
        ToolCall {
            call_id: id.into(),
            name: "yoi.list_workers".into(),
            arguments: serde_json::json!({"limit": 5}),
            state: ToolCallState::Ok,
            round,
            text_before: before.map(Into::into),
            summary: Some("2 workers".into()),
            output: Some("notes\nhelper".into()),
            duration_ms: Some(12),
        }
    }

    #[test]
    fn a_call_reads_as_one_line_with_its_state_and_time() {
        let (_, calls) = from_message(&Message {
            id: MessageId::new(),
            role: Role::Assistant,
            text: "done".into(),
            at: Timestamp::now(),
            run_id: RunId::new(),
            state: MessageState::Complete,
            reasoning: None,
            error: None,
            tool_calls: vec![call("c1", 1, None)],
            sender: None,
        })
        .unwrap();
        assert_eq!(
            call_line(&calls[0]),
            r#"⚙ yoi.list_workers {"limit":5} → ok 12 ms"#
        );
    }

    #[test]
    fn a_finished_answer_puts_each_turns_text_before_its_calls() {
        let m = Message {
            id: MessageId::new(),
            role: Role::Assistant,
            text: "All done.".into(),
            at: Timestamp::now(),
            run_id: RunId::new(),
            state: MessageState::Complete,
            reasoning: None,
            error: None,
            tool_calls: vec![
                call("c2", 2, Some("Then more. ")),
                call("c1", 1, Some("First. ")),
            ],
            sender: None,
        };
        let (text, calls) = from_message(&m).unwrap();
        assert_eq!(text, "First. Then more. All done.");
        assert_eq!(calls[0].call_id, "c1");
        assert_eq!(&text[..calls[0].offset], "First. ");
        assert_eq!(&text[..calls[1].offset], "First. Then more. ");
    }

    #[test]
    fn durations_and_cuts_read_well() {
        assert_eq!(duration(12), "12 ms");
        assert_eq!(duration(3_456), "3.4 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
