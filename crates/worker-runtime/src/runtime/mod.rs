//! The Runtime: [`Runtime`], the handle to a `RuntimeActor` ([`actor`]),
//! implements [`RuntimeApi`] with direct actor calls. A method for one
//! Worker finds it in the runtime actor's directory (a message to the
//! runtime actor only when it is not running there) and sends one message
//! to the Worker.

pub mod actor;
mod directory;
mod listing;
mod restore;

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorRef, RpcReplyPort};
use tokio::sync::{broadcast, oneshot};
use yoi_protocol::{
    CancelAccepted, Capabilities, CreateWorker, InputAccepted, InputRequest, MessageId,
    ProfileSummary, RunId, RunOutcome, RuntimeId, RuntimeKind, RuntimeStatus, RuntimeSummary, Seq,
    Transcript, TranscriptPage, WorkerDetail, WorkerId, WorkerList, WorkerPage, WorkerSummary,
    WorkspaceEvent,
};

use crate::api::{RuntimeApi, WorkerStream};
use crate::config::RuntimeConfig;
use crate::error::RuntimeError;
use crate::provider::ProviderFactory;
use crate::store::Store;
use crate::subscription::Subscription;
use crate::worker::{SubscribeFrom, WorkerMsg};
use actor::{ProfileProvider, RuntimeActor, RuntimeArgs, RuntimeMsg, WorkerHandle};
use directory::Directory;

/// Workspace events a slow listener may fall behind before it misses some.
const WORKSPACE_BUFFER: usize = 256;
/// How long a command may wait for an actor before it is reported as a bug.
const CALL_TIMEOUT_MS: u64 = 30_000;

fn actor_gone<E: std::fmt::Display>(e: E) -> RuntimeError {
    RuntimeError::Internal(format!("actor call failed: {e}"))
}

/// A handle to a running Runtime: cheap to clone, every method a message.
#[derive(Clone)]
pub struct Runtime {
    actor: ActorRef<RuntimeMsg>,
    /// The live Workers, kept by the runtime actor, read by `lookup`.
    directory: Directory,
    id: RuntimeId,
    kind: RuntimeKind,
    display_name: String,
    profiles: Arc<Vec<ProfileSummary>>,
    /// Each profile's grants, in the order of `profiles`: what they grant is
    /// listed anew as sources' tools change (an MCP server starts or changes
    /// its list).
    grants: Arc<Vec<crate::tools::ToolGrants>>,
    tools: crate::tools::ToolRegistry,
    workspace: broadcast::Sender<WorkspaceEvent>,
    store: Store,
}

impl Runtime {
    /// Whether the store writes (its last batch committed); always in memory.
    pub fn store_available(&self) -> bool {
        self.store.is_available()
    }

    /// Starts a Runtime whose Workers talk to the provider their profile
    /// names, each built once by `providers`.
    pub async fn start(
        config: RuntimeConfig,
        providers: Arc<dyn ProviderFactory>,
    ) -> Result<Runtime, RuntimeError> {
        Self::start_with_tools(config, providers, Vec::new()).await
    }

    /// [`Runtime::start`] with tool sources besides `yoi` (MCP servers).
    /// A profile's tool rule that names no tool of any source is an error
    /// naming the profile and the rule.
    pub async fn start_with_tools(
        config: RuntimeConfig,
        providers: Arc<dyn ProviderFactory>,
        sources: Vec<Arc<dyn crate::tools::ToolSource>>,
    ) -> Result<Runtime, RuntimeError> {
        let yoi = crate::tools::yoi::YoiTools::new();
        let mut all: Vec<Arc<dyn crate::tools::ToolSource>> = vec![Arc::new(yoi.clone())];
        all.extend(sources);
        let tools = crate::tools::ToolRegistry::new(all);
        let known = tools.names();
        // A source that lists no tool yet (an MCP server not started, or
        // down) still makes `source.*` a rule that names something.
        let source_names = tools.source_names();
        for spec in crate::profile::specs(&config) {
            spec.tools
                .check(&spec.name, &known, &source_names)
                .map_err(|e| RuntimeError::InvalidInput(e.to_string()))?;
        }
        let (workspace, _) = broadcast::channel(WORKSPACE_BUFFER);
        let id = config.runtime_id.clone();
        let kind = config.kind;
        let display_name = config.display_name.clone();
        let (store, saved) = match &config.state_dir {
            Some(dir) => {
                crate::store::open(dir, config.transcript_bound, config.limits.store_bytes)?
            }
            None => (Store::memory(), Vec::new()),
        };
        let specs = crate::profile::specs(&config);
        let worker_tools = |spec: &crate::config::ProfileSpec| {
            Arc::new(crate::tools::WorkerTools {
                registry: tools.clone(),
                grants: spec.tools.clone(),
                limits: config.tool_limits,
            })
        };
        let profiles = Arc::new(
            specs
                .iter()
                .map(|spec| {
                    let mut summary = crate::profile::summary(spec);
                    summary.tools = worker_tools(spec).granted();
                    summary
                })
                .collect(),
        );
        let grants = Arc::new(specs.iter().map(|spec| spec.tools.clone()).collect());
        let built: HashMap<String, ProfileProvider> = specs
            .into_iter()
            .map(|spec| {
                let provider = ProfileProvider {
                    provider: providers.provider(&spec.provider),
                    tools: worker_tools(&spec),
                    config: Arc::new(spec.provider),
                };
                (spec.name, provider)
            })
            .collect();
        let directory = Directory::default();
        let args = RuntimeArgs {
            providers: built,
            config,
            workspace: workspace.clone(),
            store: store.clone(),
            saved,
            directory: directory.clone(),
        };
        let (actor, _) = Actor::spawn(None, RuntimeActor, args)
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let runtime = Runtime {
            actor,
            directory,
            id,
            kind,
            display_name,
            profiles,
            grants,
            tools,
            workspace,
            store,
        };
        yoi.connect(Arc::new(runtime.clone()));
        Ok(runtime)
    }

    /// The Worker `worker_id`. A running one is read from the directory the
    /// runtime actor keeps, with no message to it. Any other case asks the
    /// runtime actor, which answers after what it had to handle first: a
    /// Worker it has not restored yet, one that failed and that it is
    /// restarting, one it is removing, or one that does not exist.
    async fn lookup(&self, worker_id: WorkerId) -> Result<WorkerHandle, RuntimeError> {
        if let Some(handle) = self.directory.get(&worker_id) {
            if handle.actor.get_status() == ractor::ActorStatus::Running {
                return Ok(handle);
            }
        }
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Lookup { worker_id, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
        .ok_or_else(|| RuntimeError::WorkerNotFound(worker_id.to_string()))
    }

    /// Calls a Worker; a Worker that vanished between lookup and call is not found.
    async fn call_worker<T: Send + 'static>(
        &self,
        worker_id: WorkerId,
        build: impl FnOnce(RpcReplyPort<T>) -> WorkerMsg,
    ) -> Result<T, RuntimeError> {
        let worker = self.lookup(worker_id).await?.actor;
        match ractor::call_t!(worker, build, CALL_TIMEOUT_MS) {
            Ok(v) => Ok(v),
            Err(ractor::RactorErr::Messaging(_)) => {
                Err(RuntimeError::WorkerNotFound(worker_id.to_string()))
            }
            Err(e) => Err(actor_gone(e)),
        }
    }

    /// The profiles Workers of this runtime can be created with.
    pub fn profiles(&self) -> &[ProfileSummary] {
        &self.profiles
    }

    /// The profiles with the tools each grants now.
    fn profiles_now(&self) -> Vec<ProfileSummary> {
        let names = self.tools.names();
        self.profiles
            .iter()
            .zip(self.grants.iter())
            .map(|(profile, grants)| {
                let mut profile = profile.clone();
                if !grants.is_empty() {
                    profile.tools = grants.granted(&names);
                }
                profile
            })
            .collect()
    }

    /// Waits for a run to end: its outcome, or its typed error.
    pub async fn await_run(
        &self,
        worker_id: WorkerId,
        run_id: RunId,
    ) -> Result<RunOutcome, RuntimeError> {
        let worker = self.lookup(worker_id).await?.actor;
        let (tx, rx) = oneshot::channel();
        worker
            .send_message(WorkerMsg::AwaitRun { run_id, reply: tx })
            .map_err(|_| RuntimeError::WorkerNotFound(worker_id.to_string()))?;
        match rx.await {
            Ok(result) => result.map_err(RuntimeError::Api),
            // The Worker was restarted or stopped while the run was in flight.
            Err(_) => Err(RuntimeError::Internal(
                "the worker went away during the run".to_owned(),
            )),
        }
    }

    /// Test hook: stops as a killed process would (no run is ended, nothing
    /// more is written), and lets go of the state directory.
    #[cfg(feature = "test-hooks")]
    pub async fn crash(&self) {
        let _ = ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Crash { reply },
            CALL_TIMEOUT_MS
        );
        self.actor.stop(Some("crash".to_owned()));
    }

    /// Test hook: makes the Worker's actor panic, to exercise supervision.
    #[cfg(feature = "test-hooks")]
    pub async fn inject_worker_panic(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        let worker = self.lookup(worker_id).await?.actor;
        worker
            .send_message(WorkerMsg::InjectPanic)
            .map_err(|_| RuntimeError::WorkerNotFound(worker_id.to_string()))
    }
}

impl Runtime {
    /// The tools this runtime's workers can be granted.
    pub fn tools(&self) -> Vec<yoi_protocol::ToolInfo> {
        self.tools.list()
    }

    /// The sources of those tools and how each stands.
    pub fn tool_sources(&self) -> Vec<yoi_protocol::ToolSourceInfo> {
        self.tools.sources()
    }
}

/// yoi's own tools act on the runtime that hosts the calling worker.
#[async_trait::async_trait]
impl crate::tools::yoi::WorkspaceOps for Runtime {
    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError> {
        RuntimeApi::list_workers(self, page).await
    }

    async fn read_transcript(
        &self,
        worker_id: WorkerId,
        limit: usize,
    ) -> Result<Transcript, RuntimeError> {
        RuntimeApi::transcript(self, worker_id, TranscriptPage::newest(limit)).await
    }

    async fn ask(
        &self,
        worker_id: WorkerId,
        text: String,
        origin: crate::worker::core::tool_loop::AskOrigin,
    ) -> Result<RunOutcome, RuntimeError> {
        let accepted = self
            .call_worker(worker_id, |reply| WorkerMsg::Input {
                text,
                client_message_id: None,
                on_busy: yoi_protocol::OnBusy::Queue,
                origin: Some(origin),
                reply,
            })
            .await??;
        self.await_run(worker_id, accepted.run_id).await
    }
}

#[async_trait::async_trait]
impl RuntimeApi for Runtime {
    fn id(&self) -> &RuntimeId {
        &self.id
    }

    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    async fn summary(&self) -> Result<RuntimeSummary, RuntimeError> {
        let count = ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Count { reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?;
        Ok(RuntimeSummary {
            runtime_id: self.id.clone(),
            display_name: self.display_name.clone(),
            kind: self.kind,
            status: RuntimeStatus::Available,
            capabilities: Capabilities::ALL,
            worker_count: count as u64,
            diagnostics: None,
            profiles: Some(self.profiles_now()),
            tools: Some(self.tools.list()),
        })
    }

    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError> {
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::List { page, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
    }

    async fn known_workers(&self) -> Vec<WorkerSummary> {
        self.list_workers(WorkerPage::all())
            .await
            .map(|list| list.workers)
            .unwrap_or_default()
    }

    async fn recent_workers(&self, limit: usize) -> Vec<WorkerSummary> {
        let page = WorkerPage {
            limit: Some(limit),
            order: yoi_protocol::WorkerOrder::Activity,
            ..WorkerPage::default()
        };
        self.list_workers(page)
            .await
            .map(|list| list.workers)
            .unwrap_or_default()
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError> {
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Create { request, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
    }

    async fn worker(&self, worker_id: WorkerId) -> Result<WorkerDetail, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Detail { reply })
            .await
    }

    async fn rename_worker(
        &self,
        worker_id: WorkerId,
        display_name: String,
    ) -> Result<WorkerSummary, RuntimeError> {
        let display_name = yoi_protocol::validate_display_name(&display_name)?;
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Rename {
                worker_id,
                display_name,
                reply,
            },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
    }

    async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Stop { reply })
            .await?;
        self.actor
            .send_message(RuntimeMsg::Remove { worker_id })
            .map_err(actor_gone)
    }

    async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Input {
            text: input.text,
            client_message_id: input.client_message_id,
            on_busy: input.on_busy.unwrap_or_default(),
            origin: None,
            reply,
        })
        .await?
    }

    async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RuntimeError> {
        let accepted = self.input(worker_id, input).await?;
        self.await_run(worker_id, accepted.run_id).await
    }

    async fn approve(
        &self,
        worker_id: WorkerId,
        call_id: String,
        request: yoi_protocol::ApprovalRequest,
    ) -> Result<yoi_protocol::ApprovalAnswer, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Approve {
            call_id,
            request,
            reply,
        })
        .await?
    }

    async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Cancel { reply })
            .await?
    }

    async fn remove_queued(
        &self,
        worker_id: WorkerId,
        message_id: MessageId,
    ) -> Result<(), RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::RemoveQueued {
            message_id,
            reply,
        })
        .await?
    }

    async fn transcript(
        &self,
        worker_id: WorkerId,
        page: TranscriptPage,
    ) -> Result<Transcript, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Transcript {
            limit: page.limit,
            before: page.before,
            reply,
        })
        .await?
    }

    async fn usage(
        &self,
        request: yoi_protocol::UsageRequest,
    ) -> Result<Vec<yoi_protocol::UsageGroup>, RuntimeError> {
        Ok(self.store.usage(request).await?)
    }

    async fn search(
        &self,
        request: yoi_protocol::SearchRequest,
    ) -> Result<Vec<yoi_protocol::SearchHit>, RuntimeError> {
        Ok(self.store.search(self.id.clone(), request).await?)
    }

    async fn transcript_window(
        &self,
        worker_id: WorkerId,
        anchor: yoi_protocol::TranscriptAnchor,
        limit: usize,
    ) -> Result<yoi_protocol::TranscriptWindow, RuntimeError> {
        // A running Worker's own watermark; a stopped Worker's is the store's.
        let live = match self.transcript(worker_id, TranscriptPage::newest(1)).await {
            Ok(t) => Some(t.seq),
            Err(RuntimeError::WorkerNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let window = self
            .store
            .window(worker_id, anchor, limit)
            .await?
            .ok_or_else(|| RuntimeError::WorkerNotFound(worker_id.to_string()))?;
        Ok(yoi_protocol::TranscriptWindow {
            messages: window.messages,
            seq: live.unwrap_or(window.seq),
            truncated: window.older,
            newer: Some(window.newer),
        })
    }

    async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RuntimeError> {
        let worker = self.lookup(worker_id).await?;
        let from = cursor.map_or(SubscribeFrom::Snapshot, SubscribeFrom::Cursor);
        let start = match ractor::call_t!(
            worker.actor,
            |reply| WorkerMsg::Subscribe { from, reply },
            CALL_TIMEOUT_MS
        ) {
            Ok(start) => start?,
            Err(ractor::RactorErr::Messaging(_)) => {
                return Err(RuntimeError::WorkerNotFound(worker_id.to_string()))
            }
            Err(e) => return Err(actor_gone(e)),
        };
        Ok(Subscription::new(&worker.core, start).into_stream())
    }

    fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.workspace.subscribe()
    }

    async fn shutdown(&self) {
        let _ = ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Shutdown { reply },
            CALL_TIMEOUT_MS
        );
        self.actor.stop(Some("shutdown".to_owned()));
    }
}
