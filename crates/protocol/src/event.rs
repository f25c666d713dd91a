//! Events: what a Worker emits (numbered by `seq`) and what the workspace
//! socket reports about runtimes and workers (not numbered).

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    ApiError, ApprovalDecision, ApprovalScope, Message, MessageId, RunId, RunUsage, RuntimeId,
    RuntimeSummary, Seq, Timestamp, ToolCallState, WorkerDetail, WorkerId, WorkerStatus,
    WorkerSummary,
};

/// One frame of a Worker's event socket.
///
/// Every kind but `snapshot` has the next `seq` of its Worker; a snapshot
/// carries the `seq` of the last event it includes and consumes none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerEvent {
    pub seq: Seq,
    pub at: Timestamp,
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl WorkerEvent {
    pub fn is_snapshot(&self) -> bool {
        matches!(self.kind, EventKind::Snapshot { .. })
    }

    /// The run this event belongs to, if any.
    pub fn run_id(&self) -> Option<RunId> {
        match &self.kind {
            EventKind::InputAccepted { run_id, .. }
            | EventKind::RunStarted { run_id, .. }
            | EventKind::AssistantDelta { run_id, .. }
            | EventKind::ReasoningDelta { run_id, .. }
            | EventKind::AssistantMessage { run_id, .. }
            | EventKind::RunCompleted { run_id, .. }
            | EventKind::RunFailed { run_id, .. }
            | EventKind::RunCancelled { run_id }
            | EventKind::ToolCallStarted { run_id, .. }
            | EventKind::ToolApprovalRequested { run_id, .. }
            | EventKind::ToolApprovalDecided { run_id, .. }
            | EventKind::ToolCallFinished { run_id, .. } => Some(*run_id),
            EventKind::Snapshot { .. }
            | EventKind::Status { .. }
            | EventKind::WorkerStopped
            | EventKind::InputQueued { .. }
            | EventKind::InputDequeued { .. } => None,
        }
    }

    /// Whether this event ends a run.
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }
}

impl EventKind {
    /// Whether an event of this kind ends a run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::RunCompleted { .. }
                | EventKind::RunFailed { .. }
                | EventKind::RunCancelled { .. }
        )
    }
}

/// Why a snapshot replaces what a subscriber had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// The cursor is older than the oldest event the Worker still holds.
    CursorExpired,
    /// The cursor is beyond the Worker's current `seq`.
    CursorAhead,
    /// The subscriber could not keep up.
    Lagged,
}

/// Why an input left a worker's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DequeueReason {
    /// Its run starts now (its `input_accepted` follows).
    Started,
    /// `DELETE .../queue/{message_id}` removed it.
    Removed,
    /// The worker stopped; the input never ran.
    WorkerStopped,
}

/// The text streamed so far by the run in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct InFlight {
    pub run_id: RunId,
    pub text: String,
    /// Reasoning streamed so far, when the provider sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reasoning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Snapshot {
        worker: Box<WorkerDetail>,
        transcript: Vec<Message>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        in_flight: Option<InFlight>,
        reset: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<SnapshotReason>,
    },
    InputAccepted {
        run_id: RunId,
        message: Message,
    },
    /// An input joined the worker's queue at `position` (1 for the next).
    InputQueued {
        message_id: MessageId,
        text: String,
        position: u32,
    },
    /// An input left the queue: its run starts, it was removed, or the
    /// worker stopped.
    InputDequeued {
        message_id: MessageId,
        reason: DequeueReason,
    },
    RunStarted {
        run_id: RunId,
        model: String,
    },
    AssistantDelta {
        run_id: RunId,
        text: String,
    },
    ReasoningDelta {
        run_id: RunId,
        text: String,
    },
    AssistantMessage {
        run_id: RunId,
        message: Message,
    },
    RunCompleted {
        run_id: RunId,
        usage: RunUsage,
        #[ts(type = "number")]
        duration_ms: u64,
    },
    RunFailed {
        run_id: RunId,
        error: ApiError,
    },
    RunCancelled {
        run_id: RunId,
    },
    Status {
        status: WorkerStatus,
    },
    WorkerStopped,
    /// The model called a tool: the call waits for approval or runs now.
    ToolCallStarted {
        run_id: RunId,
        call_id: String,
        name: String,
        #[ts(type = "unknown")]
        #[schema(value_type = Object)]
        arguments: serde_json::Value,
    },
    /// A call waits for a person's decision (`POST .../approvals/{call_id}`).
    ToolApprovalRequested {
        run_id: RunId,
        call_id: String,
        name: String,
        #[ts(type = "unknown")]
        #[schema(value_type = Object)]
        arguments: serde_json::Value,
    },
    /// A person (or the approval's timeout) decided.
    ToolApprovalDecided {
        run_id: RunId,
        call_id: String,
        decision: ApprovalDecision,
        scope: ApprovalScope,
    },
    ToolCallFinished {
        run_id: RunId,
        call_id: String,
        ok: bool,
        summary: String,
        /// How the call ended (an addition: `ok` alone does not tell a
        /// denial from an error).
        state: ToolCallState,
        /// What the model was given, bounded for clients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        output: Option<String>,
    },
}

/// One frame of the workspace socket (`/api/events`). Not numbered: a client
/// that reconnects gets a fresh `workspace_snapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkspaceEvent {
    WorkspaceSnapshot {
        runtimes: Vec<RuntimeSummary>,
        workers: Vec<WorkerSummary>,
    },
    WorkerCreated {
        worker: WorkerSummary,
    },
    /// A worker's name or last activity changed (an addition to the contract).
    WorkerUpdated {
        worker: WorkerSummary,
    },
    WorkerStopped {
        runtime_id: RuntimeId,
        worker_id: WorkerId,
    },
    Status {
        runtime_id: RuntimeId,
        worker_id: WorkerId,
        status: WorkerStatus,
    },
    RuntimeStatus {
        runtime: RuntimeSummary,
    },
}
