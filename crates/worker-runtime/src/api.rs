//! [`RuntimeApi`]: what a runtime offers, wherever it runs.
//!
//! The embedded [`crate::Runtime`] implements it with direct actor calls;
//! the registry's client of a runtime process (local on a Unix socket,
//! remote over HTTP and WebSocket) implements it over the wire. The backend
//! resolves a `runtime_id` to an `Arc<dyn RuntimeApi>` and its routes call
//! it directly; a runtime's own server calls the same methods on the
//! embedded runtime. A new worker command is one method here.

use std::sync::Arc;

use futures::stream::BoxStream;
use tokio::sync::broadcast;
use yoi_protocol::{
    ApprovalAnswer, ApprovalRequest, CancelAccepted, CreateWorker, InputAccepted, InputRequest,
    MessageId, RunOutcome, RuntimeId, RuntimeKind, RuntimeSummary, Seq, Transcript, TranscriptPage,
    UsageGroup, UsageRequest, WorkerDetail, WorkerId, WorkerList, WorkerPage, WorkerSummary,
    WorkspaceEvent,
};

use crate::error::RuntimeError;
use crate::event_log::EventFrame;

/// A Worker's event frames in order, each `seq` once, per the cursor rules;
/// it ends when the Worker stops or can no longer be followed.
pub type WorkerStream = BoxStream<'static, Arc<EventFrame>>;

/// The operations of a runtime, the same for every kind.
#[async_trait::async_trait]
pub trait RuntimeApi: Send + Sync + 'static {
    /// The id clients name this runtime by.
    fn id(&self) -> &RuntimeId;

    fn kind(&self) -> RuntimeKind;

    /// Its status, capabilities and worker count.
    async fn summary(&self) -> Result<RuntimeSummary, RuntimeError>;

    /// Its workers in the order asked for (creation or activity), a page
    /// at a time (all with [`WorkerPage::all`]), optionally filtered by name.
    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError>;

    /// The workers a workspace snapshot lists, without waiting on a network:
    /// none while the runtime cannot be reached.
    async fn known_workers(&self) -> Vec<WorkerSummary>;

    /// The `limit` most recently active of [`RuntimeApi::known_workers`],
    /// in the consoles' order: what a bounded workspace snapshot lists.
    async fn recent_workers(&self, limit: usize) -> Vec<WorkerSummary> {
        let mut workers = self.known_workers().await;
        workers.sort_by(yoi_protocol::by_activity);
        workers.truncate(limit);
        workers
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError>;

    async fn worker(&self, worker_id: WorkerId) -> Result<WorkerDetail, RuntimeError>;

    /// Gives the Worker another display name (validated here); answers its
    /// summary, and the workspace hears `worker_updated`.
    async fn rename_worker(
        &self,
        worker_id: WorkerId,
        display_name: String,
    ) -> Result<WorkerSummary, RuntimeError>;

    /// Cancels any run, stops the Worker and forgets it.
    async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RuntimeError>;

    /// Sends input; answers once the input joined the transcript.
    async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RuntimeError>;

    /// Sends input and answers when its run ended: the outcome or the run's error.
    async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RuntimeError>;

    async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RuntimeError>;

    /// A person's decision on a tool call that waits for one:
    /// [`RuntimeError::UnknownToolCall`] for a call the worker never made,
    /// [`RuntimeError::NotPending`] for one no longer waiting.
    async fn approve(
        &self,
        worker_id: WorkerId,
        call_id: String,
        request: ApprovalRequest,
    ) -> Result<ApprovalAnswer, RuntimeError>;

    /// Takes a queued input out of the Worker's queue before its run starts;
    /// [`RuntimeError::NotQueued`] (or its `not_found` over the wire) when it
    /// is not queued (any more).
    async fn remove_queued(
        &self,
        worker_id: WorkerId,
        message_id: MessageId,
    ) -> Result<(), RuntimeError>;

    /// A page of history (the newest `limit` messages, or those before a
    /// message) and the `seq` it is current at.
    async fn transcript(
        &self,
        worker_id: WorkerId,
        page: TranscriptPage,
    ) -> Result<Transcript, RuntimeError>;

    /// The Worker's events: `None` starts with a snapshot, a cursor replays
    /// what follows it (or resets), per the contract. An unknown Worker is
    /// an error now, not an empty stream.
    async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RuntimeError>;

    /// Usage of the runtime's runs, summed from its store over the
    /// request's days and grouped as it asks; the `runtime` group is the
    /// caller's to fill in. A runtime without a store has none.
    async fn usage(&self, request: UsageRequest) -> Result<Vec<UsageGroup>, RuntimeError>;

    /// The best `request.depth()` hits of `request` in the runtime's
    /// stored conversations (stopped workers' too), best first; each hit
    /// names this runtime. A runtime without a store has none.
    async fn search(
        &self,
        request: yoi_protocol::SearchRequest,
    ) -> Result<Vec<yoi_protocol::SearchHit>, RuntimeError>;

    /// A page of a Worker's history around or after one message, read
    /// from the store (a stopped Worker's too), and its watermark `seq`.
    async fn transcript_window(
        &self,
        worker_id: WorkerId,
        anchor: yoi_protocol::TranscriptAnchor,
        limit: usize,
    ) -> Result<yoi_protocol::TranscriptWindow, RuntimeError>;

    /// Workers created, stopped and changing status, and the runtime's status.
    fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent>;

    /// Ends every run with a terminal event; a runtime this process started
    /// stops too.
    async fn shutdown(&self);
}
