//! Tools: what a Worker may call, how a call stands, and how a person
//! answers a call that asks first.
//!
//! A tool's name is `<source>.<tool>` (`yoi.list_workers`,
//! `time.get_current_time`). A profile grants tools with rules
//! (`allow`, `ask`, `deny`); a tool no rule names is never offered to the
//! model. Arguments and results are the tool's, bounded for clients.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// How a profile grants a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolPolicy {
    /// The call runs without asking.
    Allow,
    /// A person decides each call (or remembers a decision for the worker).
    Ask,
    /// The tool is offered to no model (a later rule may not re-grant it).
    Deny,
}

impl ToolPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolPolicy::Allow => "allow",
            ToolPolicy::Ask => "ask",
            ToolPolicy::Deny => "deny",
        }
    }
}

/// A tool the backend can offer, as `GET /api/tools` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ToolInfo {
    /// `<source>.<tool>`.
    pub name: String,
    pub description: String,
    /// Where the tool comes from: `yoi`, or the name of an MCP server.
    pub source: String,
    /// The JSON Schema of its arguments.
    #[ts(type = "Record<string, unknown>")]
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
    /// Whether a call may change something (when unsure, `true`).
    pub may_change: bool,
}

/// `GET /api/tools`: every tool the backend can offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ToolList {
    pub tools: Vec<ToolInfo>,
    /// Where the tools come from and how each source stands (an MCP server
    /// that is down is listed here with why, and has no tools above).
    #[serde(default)]
    pub sources: Vec<ToolSourceInfo>,
}

/// What kind of source a tool comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolSourceKind {
    /// yoi's own workspace operations.
    Yoi,
    /// An MCP server the workspace's owner configured (`[mcp.<name>]`).
    Mcp,
}

/// How a tool source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolSourceStatus {
    /// Its tools can be called.
    Ready,
    /// Started on demand, and nothing needed it yet.
    NotStarted,
    /// Being started (or restarted).
    Starting,
    /// It could not be started or it stopped; it is started again with
    /// backoff. `reason` says why.
    Down,
}

/// A source of tools as `GET /api/tools` lists it. Never its command line,
/// environment, URL or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ToolSourceInfo {
    /// The first part of its tools' names.
    pub name: String,
    pub kind: ToolSourceKind,
    pub status: ToolSourceStatus,
    /// Why it is down (or what it waits for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reason: Option<String>,
    /// How many tools it lists now.
    pub tools: u32,
}

/// A tool a profile (or a worker) may use, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct GrantedTool {
    pub name: String,
    pub policy: ToolPolicy,
}

/// Where a tool call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallState {
    /// It waits for a person's decision.
    WaitingApproval,
    Running,
    Ok,
    /// The tool failed, timed out, or its arguments were refused.
    Error,
    /// A person (or the approval's timeout) declined it.
    Denied,
    /// The run was cancelled while the call waited or ran.
    Cancelled,
    /// A restart of yoi interrupted it; it is never run again by itself.
    Interrupted,
}

impl ToolCallState {
    /// Whether the call has ended.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            ToolCallState::WaitingApproval | ToolCallState::Running
        )
    }
}

/// One tool call of an assistant message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ToolCall {
    pub call_id: String,
    /// `<source>.<tool>`.
    pub name: String,
    /// The arguments as the model wrote them: their JSON, or the text
    /// itself when it is not JSON (bounded for clients).
    #[ts(type = "unknown")]
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    pub state: ToolCallState,
    /// Which model turn of the run made the call (1 for the first).
    pub round: u32,
    /// The text the model wrote in that turn before its calls; on the first
    /// call of the turn only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub text_before: Option<String>,
    /// One line on how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub summary: Option<String>,
    /// What the model was given as the result (bounded for clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub output: Option<String>,
    /// How long the call ran, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub duration_ms: Option<u64>,
}

/// A person's answer to a call that asks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    Allow,
    Deny,
}

/// How long a decision holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScope {
    /// This call only.
    #[default]
    Once,
    /// This tool, for the rest of the worker's life (stored).
    Worker,
}

/// The body of `POST .../approvals/{call_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    pub decision: ApprovalDecision,
    #[serde(default)]
    pub scope: ApprovalScope,
}

/// The answer of `POST .../approvals/{call_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ApprovalAnswer {
    pub call_id: String,
    pub decision: ApprovalDecision,
    pub scope: ApprovalScope,
}

/// A call that waits for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PendingApproval {
    pub run_id: crate::RunId,
    pub call_id: String,
    pub name: String,
    #[ts(type = "unknown")]
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    pub requested_at: crate::Timestamp,
}

/// Most bytes of a call's arguments or output that clients get; the model
/// gets the tool's own bound.
pub const MAX_TOOL_TEXT_FOR_CLIENTS: usize = 16 * 1024;

/// `text` cut to at most `max` bytes at a character boundary, with a marker
/// saying how much was left out.
pub fn bound_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[… {} more bytes not shown]",
        &text[..end],
        text.len() - end
    )
}

/// Whether `name` is a contract tool name: `<source>.<tool>`, each part of
/// `a-z A-Z 0-9 _ -`, the source without `.`.
pub fn is_tool_name(name: &str) -> bool {
    let Some((source, tool)) = name.split_once('.') else {
        return false;
    };
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    part(source) && part(tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_text_cuts_at_a_char_boundary_and_says_so() {
        let text = "é".repeat(10);
        let cut = bound_text(&text, 5);
        assert!(cut.starts_with("éé\n"), "{cut}");
        assert!(cut.contains("16 more bytes"), "{cut}");
        assert_eq!(bound_text("short", 5), "short");
    }

    #[test]
    fn tool_names_have_a_source_and_a_tool() {
        assert!(is_tool_name("yoi.list_workers"));
        assert!(is_tool_name("time.get-current_time"));
        assert!(!is_tool_name("list_workers"));
        assert!(!is_tool_name(".x"));
        assert!(!is_tool_name("a.b.c"));
        assert!(!is_tool_name("a b.c"));
    }

    #[test]
    fn approval_scope_defaults_to_once() {
        let body: ApprovalRequest = serde_json::from_str(r#"{"decision":"deny"}"#).unwrap();
        assert_eq!(body.scope, ApprovalScope::Once);
        assert!(serde_json::from_str::<ApprovalRequest>(r#"{"decision":"maybe"}"#).is_err());
    }
}
