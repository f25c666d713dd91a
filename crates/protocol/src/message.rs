//! Transcript messages.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{MessageId, RunId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// Where a message stands. User messages are `complete` once accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Complete,
    Streaming,
    Cancelled,
    Failed,
}

/// One user or assistant message of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub role: Role,
    pub text: String,
    pub at: Timestamp,
    pub run_id: RunId,
    pub state: MessageState,
    /// The reasoning the provider streamed before this answer, when it sent any
    /// (an addition to the contract's `Message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reasoning: Option<String>,
    /// Why the run failed, on the assistant message of a failed run
    /// (an addition to the contract's `Message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<crate::ApiError>,
    /// The tools the model called in this run, in order (assistant messages
    /// only; an addition to the contract's `Message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<crate::ToolCall>>", optional)]
    pub tool_calls: Vec<crate::ToolCall>,
    /// Who sent a user message when it was not a person: the `display_ref`
    /// of the worker that asked (`yoi.ask_worker`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sender: Option<String>,
}
