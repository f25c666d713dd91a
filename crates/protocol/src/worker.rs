//! Workers as clients see them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{ApiError, MessageId, RunId, RuntimeId, Timestamp, WorkerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    Idle,
    Running,
    /// A run waits for a person to decide on a tool call.
    WaitingApproval,
    Stopped,
    /// Its stored row is damaged: it was not restored, takes no input
    /// (`store_unavailable`), and can only be stopped. An addition to the contract.
    Quarantined,
}

/// The profile a Worker runs with, as far as clients need to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ProfileInfo {
    pub name: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerSummary {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    pub display_name: String,
    /// `<display_name>@<runtime_id>`.
    pub display_ref: String,
    pub status: WorkerStatus,
    pub profile: ProfileInfo,
    /// When the last message joined the transcript (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_activity: Option<Timestamp>,
    /// The start of the last message, at most [`crate::LAST_MESSAGE_PREVIEW_CHARS`]
    /// characters (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_message: Option<String>,
}

/// Aggregated token usage of a Worker (or of one run, with `runs: 1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Usage {
    #[ts(type = "number")]
    pub runs: u64,
    #[ts(type = "number")]
    pub prompt_tokens: u64,
    #[ts(type = "number")]
    pub completion_tokens: u64,
}

/// Token usage of one run, as `run_completed` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RunUsage {
    #[ts(type = "number")]
    pub prompt_tokens: u64,
    #[ts(type = "number")]
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct LastRun {
    pub run_id: RunId,
    pub state: RunState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<ApiError>,
    /// Tokens of the run, once it ended (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub usage: Option<RunUsage>,
    /// How long the run took, once it ended (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerDetail {
    #[serde(flatten)]
    pub summary: WorkerSummary,
    pub created_at: Timestamp,
    /// The tools the worker may use, and how (from its profile's grants).
    pub tools: Vec<crate::GrantedTool>,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_run: Option<LastRun>,
    /// Inputs waiting for the run in flight to end, the next first.
    #[serde(default)]
    pub queue: Vec<QueuedInput>,
    /// Tool calls that wait for a person's decision (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<crate::PendingApproval>>", optional)]
    pub pending_approvals: Vec<crate::PendingApproval>,
    /// Why the worker takes no input (`profile_missing`: its profile or
    /// the profile's prompt file is gone); its history stays readable.
    /// Absent when it takes input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub input_error: Option<ApiError>,
}

/// An input waiting in a worker's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct QueuedInput {
    pub message_id: MessageId,
    pub text: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ProviderInfo {
    pub configured: bool,
    pub model: String,
    /// When not configured: what to set (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct CompanionInfo {
    #[serde(flatten)]
    pub summary: WorkerSummary,
    pub provider: ProviderInfo,
}

/// A profile a runtime offers: what a client may pick when it creates a
/// Worker. Never holds a URL, a path or a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ProfileSummary {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    pub model: String,
    /// Whether its provider can be used (a key, or a local endpoint).
    pub configured: bool,
    /// When not configured: what to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub hint: Option<String>,
    /// The tools its workers may use, and how (absent when it grants none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<crate::GrantedTool>>", optional)]
    pub tools: Vec<crate::GrantedTool>,
}
