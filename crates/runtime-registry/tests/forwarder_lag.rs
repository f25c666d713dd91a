//! The registry's forwarder of a runtime's workspace events falls behind:
//! `/api/events` listeners get a fresh `workspace_snapshot` in place of what
//! was missed, not a silent gap.
//!
//! The runtime is the real embedded one; only its workspace broadcast is
//! swapped for a tiny one the test fills faster than the forwarder reads
//! (on a single-threaded test runtime the forwarder cannot run meanwhile).

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use runtime_registry::Registry;
use tokio::sync::broadcast;
use worker_runtime::{Runtime, RuntimeApi, RuntimeConfig, RuntimeError, WorkerStream};
use yoi_protocol::{
    CancelAccepted, CreateWorker, InputAccepted, InputRequest, MessageId, RunOutcome, RuntimeId,
    RuntimeKind, RuntimeSummary, Seq, Transcript, TranscriptPage, WorkerDetail, WorkerId,
    WorkerList, WorkerPage, WorkerSummary, WorkspaceEvent,
};
use yoi_test_support::MockOpenAi;

const WAIT: Duration = Duration::from_secs(20);

/// The embedded runtime, its workspace events sent through `events`.
struct TinyBroadcast {
    runtime: Runtime,
    events: broadcast::Sender<WorkspaceEvent>,
}

#[async_trait::async_trait]
impl RuntimeApi for TinyBroadcast {
    fn id(&self) -> &RuntimeId {
        self.runtime.id()
    }
    fn kind(&self) -> RuntimeKind {
        self.runtime.kind()
    }
    async fn summary(&self) -> Result<RuntimeSummary, RuntimeError> {
        self.runtime.summary().await
    }
    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError> {
        self.runtime.list_workers(page).await
    }
    async fn known_workers(&self) -> Vec<WorkerSummary> {
        self.runtime.known_workers().await
    }
    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError> {
        self.runtime.create_worker(request).await
    }
    async fn worker(&self, worker_id: WorkerId) -> Result<WorkerDetail, RuntimeError> {
        self.runtime.worker(worker_id).await
    }
    async fn rename_worker(
        &self,
        worker_id: WorkerId,
        display_name: String,
    ) -> Result<WorkerSummary, RuntimeError> {
        self.runtime.rename_worker(worker_id, display_name).await
    }
    async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        self.runtime.stop_worker(worker_id).await
    }
    async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RuntimeError> {
        self.runtime.input(worker_id, input).await
    }
    async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RuntimeError> {
        self.runtime.input_wait(worker_id, input).await
    }
    async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RuntimeError> {
        self.runtime.cancel(worker_id).await
    }
    async fn approve(
        &self,
        worker_id: WorkerId,
        call_id: String,
        request: yoi_protocol::ApprovalRequest,
    ) -> Result<yoi_protocol::ApprovalAnswer, RuntimeError> {
        self.runtime.approve(worker_id, call_id, request).await
    }
    async fn remove_queued(
        &self,
        worker_id: WorkerId,
        message_id: MessageId,
    ) -> Result<(), RuntimeError> {
        self.runtime.remove_queued(worker_id, message_id).await
    }
    async fn transcript(
        &self,
        worker_id: WorkerId,
        page: TranscriptPage,
    ) -> Result<Transcript, RuntimeError> {
        self.runtime.transcript(worker_id, page).await
    }
    async fn usage(
        &self,
        request: yoi_protocol::UsageRequest,
    ) -> Result<Vec<yoi_protocol::UsageGroup>, RuntimeError> {
        self.runtime.usage(request).await
    }
    async fn search(
        &self,
        request: yoi_protocol::SearchRequest,
    ) -> Result<Vec<yoi_protocol::SearchHit>, RuntimeError> {
        self.runtime.search(request).await
    }
    async fn transcript_window(
        &self,
        worker_id: WorkerId,
        anchor: yoi_protocol::TranscriptAnchor,
        limit: usize,
    ) -> Result<yoi_protocol::TranscriptWindow, RuntimeError> {
        self.runtime
            .transcript_window(worker_id, anchor, limit)
            .await
    }
    async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RuntimeError> {
        self.runtime.subscribe(worker_id, cursor).await
    }
    fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.events.subscribe()
    }
    async fn shutdown(&self) {
        self.runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_lagging_forwarder_sends_a_fresh_workspace_snapshot() {
    let mock = MockOpenAi::start().await;
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("sk-registry".into());
    let runtime = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let created = runtime
        .create_worker(CreateWorker {
            display_name: Some("kept".into()),
            profile: None,
        })
        .await
        .unwrap();
    let (events, _) = broadcast::channel(2);
    let registry = Registry::start().await.unwrap();
    registry
        .register(Arc::new(TinyBroadcast {
            runtime: runtime.clone(),
            events: events.clone(),
        }))
        .await
        .unwrap();
    let mut listener = registry.workspace_events();
    // Ten changes before the forwarder can read one: it misses eight.
    let summary = runtime.summary().await.unwrap();
    for _ in 0..10 {
        events
            .send(WorkspaceEvent::RuntimeStatus {
                runtime: summary.clone(),
            })
            .unwrap();
    }
    let snapshot = tokio::time::timeout(WAIT, async {
        loop {
            if let WorkspaceEvent::WorkspaceSnapshot { runtimes, workers } =
                listener.recv().await.unwrap()
            {
                return (runtimes, workers);
            }
        }
    })
    .await
    .expect("listeners get a fresh snapshot in place of the missed events");
    let (runtimes, workers) = snapshot;
    assert_eq!(runtimes.len(), 1);
    assert!(workers
        .iter()
        .any(|w| w.worker_id == created.summary.worker_id));
}

/// The snapshot sent in place of missed events is bounded like the first
/// frame of `/api/events`: the most recently active workers, in order.
#[tokio::test(flavor = "current_thread")]
async fn the_snapshot_after_a_lag_lists_only_the_most_recently_active_workers() {
    let mock = MockOpenAi::start().await;
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("sk-registry".into());
    let runtime = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap();
    for i in 0..(yoi_protocol::SNAPSHOT_WORKERS + 50) {
        runtime
            .create_worker(CreateWorker {
                display_name: Some(format!("w{i}")),
                profile: None,
            })
            .await
            .unwrap();
    }
    let (events, _) = broadcast::channel(2);
    let registry = Registry::start().await.unwrap();
    registry
        .register(Arc::new(TinyBroadcast {
            runtime: runtime.clone(),
            events: events.clone(),
        }))
        .await
        .unwrap();
    let mut listener = registry.workspace_events();
    let summary = runtime.summary().await.unwrap();
    for _ in 0..10 {
        events
            .send(WorkspaceEvent::RuntimeStatus {
                runtime: summary.clone(),
            })
            .unwrap();
    }
    let (runtimes, workers) = tokio::time::timeout(WAIT, async {
        loop {
            if let WorkspaceEvent::WorkspaceSnapshot { runtimes, workers } =
                listener.recv().await.unwrap()
            {
                return (runtimes, workers);
            }
        }
    })
    .await
    .expect("listeners get a fresh snapshot in place of the missed events");
    assert_eq!(runtimes[0].worker_count, 250);
    assert_eq!(workers.len(), yoi_protocol::SNAPSHOT_WORKERS);
    let mut all = runtime
        .list_workers(yoi_protocol::WorkerPage::all())
        .await
        .unwrap()
        .workers;
    all.sort_by(yoi_protocol::by_activity);
    all.truncate(yoi_protocol::SNAPSHOT_WORKERS);
    assert_eq!(workers, all, "the head of the activity order");
}
