//! [`ActiveRun`]: what a Worker holds of the run in flight.

use std::time::Instant;

use tokio::task::AbortHandle;
use yoi_protocol::{Message, MessageId, MessageState, Role, RunId, RunUsage, Timestamp};

use super::tool_loop::RunTools;
use crate::store::PartialSlot;

/// The run in flight.
pub(super) struct ActiveRun {
    pub(super) run_id: RunId,
    pub(super) assistant_id: MessageId,
    /// Whether the assistant message joined the transcript (at the first delta).
    pub(super) assistant_started: bool,
    pub(super) started: Instant,
    pub(super) text: String,
    pub(super) reasoning: String,
    pub(super) usage: Option<RunUsage>,
    pub(super) task: Option<AbortHandle>,
    /// Text or reasoning arrived since the last write of the partial answer.
    pub(super) unsaved: bool,
    /// A write of the partial answer is scheduled.
    pub(super) flush_scheduled: bool,
    /// Where its partial answer waits for the store (see [`crate::store::Store::put_partial`]).
    pub(super) partial: PartialSlot,
    /// Bytes of text and reasoning streamed in every turn of the run.
    pub(super) streamed: usize,
    /// Its tool calls and the turns that made them.
    pub(super) tools: RunTools,
    /// Whether the provider's first item arrived (time to first token).
    pub(super) first_seen: bool,
}

impl ActiveRun {
    pub(super) fn new(run_id: RunId) -> Self {
        Self {
            run_id,
            assistant_id: MessageId::new(),
            assistant_started: false,
            started: Instant::now(),
            text: String::new(),
            reasoning: String::new(),
            usage: None,
            task: None,
            unsaved: false,
            flush_scheduled: false,
            partial: PartialSlot::default(),
            streamed: 0,
            tools: RunTools::default(),
            first_seen: false,
        }
    }

    /// The assistant message as it stands mid-run.
    pub(super) fn partial_message(&self) -> Message {
        Message {
            id: self.assistant_id,
            role: Role::Assistant,
            text: self.text.clone(),
            at: Timestamp::now(),
            run_id: self.run_id,
            state: MessageState::Streaming,
            reasoning: (!self.reasoning.is_empty()).then(|| self.reasoning.clone()),
            error: None,
            tool_calls: self.tools.calls.clone(),
            sender: None,
        }
    }
}
