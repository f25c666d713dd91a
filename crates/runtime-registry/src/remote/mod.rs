//! Runtimes in other processes: [`RemoteRuntime`], the client the registry
//! uses for both a `remote` runtime (`yoi runtime serve --bind` on another
//! host, over HTTP and WebSocket with a bearer token) and a `local` one (a
//! child process on a Unix socket, see [`crate::local`]).
//!
//! - [`transport`]: REST and WebSocket over TCP or a Unix socket; failures
//!   sorted into the runtime's own errors and reasons it is unreachable.
//! - [`monitor`]: the actor holding the runtime's health and known workers,
//!   fed by a probe/observer task and by every command's outcome; it makes the
//!   runtime's workspace events.
//! - [`stream`]: a Worker's events that survive a broken connection by
//!   resuming from the last `seq`.
//! - [`rewrite`]: answers re-labelled with the registered runtime id.
//!
//! Errors: a runtime that cannot be reached (refused, timed out, lost, or our
//! token refused) answers `runtime_unavailable`, and its `diagnostics` say
//! why (`unauthorized` for a refused token); the runtime's own errors (`busy`,
//! `worker_not_found`, `provider_error`, ...) are carried unchanged.

pub mod monitor;
pub mod rewrite;
pub mod stream;
pub mod tls;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorRef};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use worker_runtime::{RuntimeApi, RuntimeError, WorkerStream};
use yoi_protocol::{
    ApiError, CancelAccepted, CreateWorker, ErrorCode, InputAccepted, InputRequest, MessageId,
    RenameWorker, RunOutcome, RuntimeId, RuntimeKind, RuntimeSummary, Seq, Transcript,
    TranscriptPage, WorkerDetail, WorkerId, WorkerList, WorkerOrder, WorkerPage, WorkerSummary,
    WorkspaceEvent,
};

use crate::error::RegistryError;
use monitor::{MonitorActor, MonitorArgs, MonitorMsg};
pub use reqwest::Url;
pub use stream::RemoteStream;
use transport::CallError;
pub use transport::{Endpoint, Transport, TransportError, Unreachable};

/// Workspace events of one runtime a slow listener may fall behind.
const EVENTS_BUFFER: usize = 256;
const MONITOR_CALL_MS: u64 = 5_000;

/// How often and how long the registry tries a runtime process.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A probe of `GET /v1/runtime` this often while the runtime is up.
    pub health_every: Duration,
    /// First delay before trying a runtime that is down again; doubles.
    pub retry_min: Duration,
    /// Longest delay between tries.
    pub retry_max: Duration,
    /// How long a Worker's event stream tries to resume before it ends.
    pub resume_within: Duration,
    /// Silence on an event socket after which the link is taken for dead
    /// (runtimes ping every 15 s).
    pub silence_limit: Duration,
    /// Longest wait for a TCP or Unix connection.
    pub connect_timeout: Duration,
    /// Longest wait for a command's answer (not for `wait=true` input).
    pub request_timeout: Duration,
    /// Longest wait for `wait=true` input's answer; past it the call answers
    /// `timeout` (the run goes on in the runtime).
    pub wait_timeout: Duration,
}

/// Default for [`Timing::wait_timeout`]: the default run timeout plus a
/// margin for the runtime to answer after its own timeout.
pub const DEFAULT_WAIT_TIMEOUT: Duration =
    Duration::from_secs(worker_runtime::config::DEFAULT_RUN_TIMEOUT.as_secs() + 60);

impl Default for Timing {
    fn default() -> Self {
        Self {
            health_every: Duration::from_secs(2),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            resume_within: Duration::from_secs(10),
            silence_limit: Duration::from_secs(40),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(30),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }
}

/// Everything needed to reach a runtime process.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The id the backend registers it under, whatever the runtime calls itself.
    pub runtime_id: RuntimeId,
    pub display_name: String,
    /// `Remote`, or `Local` for a supervised child.
    pub kind: RuntimeKind,
    pub endpoint: Endpoint,
    pub timing: Timing,
}

/// A runtime in another process, reached over the network. Cheap to clone.
#[derive(Clone)]
pub struct RemoteRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    id: RuntimeId,
    kind: RuntimeKind,
    transport: Transport,
    monitor: ActorRef<MonitorMsg>,
    events: broadcast::Sender<WorkspaceEvent>,
    timing: Timing,
    observer: JoinHandle<()>,
    /// The process this backend runs the runtime in, for a `local` one.
    process: Option<Box<dyn OwnedProcess>>,
}

/// A runtime process this backend started and stops with itself.
pub trait OwnedProcess: Send + Sync + 'static {
    /// Stops the process (its runs end with a terminal event first).
    fn stop(&self) -> BoxFuture<'_, ()>;

    /// Counts the times the process exited by itself, for the monitor to
    /// announce each one at once (a restart may come back before the next
    /// health check, and would otherwise go unannounced).
    fn exits(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Tells the monitor each time the owned process exits: it is unavailable
/// until a probe or a call reaches its successor. Ends with the process's
/// supervisor or the monitor.
fn announce_exits(mut exits: tokio::sync::watch::Receiver<u64>, monitor: ActorRef<MonitorMsg>) {
    tokio::spawn(async move {
        while exits.changed().await.is_ok() {
            let exited = MonitorMsg::Unreachable(transport::Unreachable::Exited);
            if monitor.send_message(exited).is_err() {
                break;
            }
        }
    });
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.observer.abort();
        self.monitor.stop(None);
    }
}

impl RemoteRuntime {
    /// Starts following the runtime at `config.endpoint`. Its status is
    /// `unavailable` until the first probe reaches it.
    pub async fn start(config: RemoteConfig) -> Result<RemoteRuntime, RegistryError> {
        Self::start_with(config, None).await
    }

    /// Follows a runtime whose process this backend owns: it is stopped on
    /// [`RuntimeApi::shutdown`].
    pub async fn start_with(
        config: RemoteConfig,
        process: Option<Box<dyn OwnedProcess>>,
    ) -> Result<RemoteRuntime, RegistryError> {
        let transport = Transport::new(&config.endpoint, config.timing.connect_timeout)
            .map_err(|e| RegistryError::Config(e.to_string()))?;
        let (events, _) = broadcast::channel(EVENTS_BUFFER);
        let (monitor, _) = Actor::spawn(
            None,
            MonitorActor,
            MonitorArgs {
                runtime_id: config.runtime_id.clone(),
                display_name: config.display_name,
                kind: config.kind,
                events: events.clone(),
            },
        )
        .await
        .map_err(|_| RegistryError::Stopped)?;
        if let Some(exits) = process.as_ref().and_then(|p| p.exits()) {
            announce_exits(exits, monitor.clone());
        }
        let observer = tokio::spawn(monitor::observe(
            config.runtime_id.clone(),
            transport.clone(),
            monitor.clone(),
            config.timing,
        ));
        Ok(RemoteRuntime {
            inner: Arc::new(Inner {
                id: config.runtime_id,
                kind: config.kind,
                transport,
                monitor,
                events,
                timing: config.timing,
                observer,
                process,
            }),
        })
    }

    fn unavailable(&self) -> RuntimeError {
        RuntimeError::Unavailable(self.inner.id.clone())
    }

    /// Maps a call's failure: the runtime's own errors unchanged, anything
    /// else `runtime_unavailable` (the monitor keeps the reason).
    fn outcome<T>(&self, result: Result<T, CallError>) -> Result<T, RuntimeError> {
        monitor::report(&self.inner.monitor, &result);
        result.map_err(|e| match e {
            CallError::Api(api) => RuntimeError::Api(api),
            CallError::Unreachable(_) => self.unavailable(),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T, RuntimeError> {
        let result = self
            .inner
            .transport
            .json(method, path, body, Some(self.inner.timing.request_timeout))
            .await;
        self.outcome(result)
    }
}

#[async_trait::async_trait]
impl RuntimeApi for RemoteRuntime {
    fn id(&self) -> &RuntimeId {
        &self.inner.id
    }

    fn kind(&self) -> RuntimeKind {
        self.inner.kind
    }

    /// Health and known workers, without a network round trip.
    async fn summary(&self) -> Result<RuntimeSummary, RuntimeError> {
        ractor::call_t!(
            self.inner.monitor,
            |reply| MonitorMsg::Summary { reply },
            MONITOR_CALL_MS
        )
        .map_err(|e| RuntimeError::Internal(format!("the runtime's monitor is gone: {e}")))
    }

    /// The workers the monitor knows of; none while the runtime is down.
    async fn known_workers(&self) -> Vec<WorkerSummary> {
        ractor::call_t!(
            self.inner.monitor,
            |reply| MonitorMsg::Workers { reply },
            MONITOR_CALL_MS
        )
        .ok()
        .flatten()
        .unwrap_or_default()
    }

    fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.inner.events.subscribe()
    }

    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(limit) = page.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(after) = page.after {
            query.push(("after", after.to_string()));
        }
        if page.order == WorkerOrder::Activity {
            query.push(("order", "activity".to_owned()));
        }
        if let Some(name) = &page.name {
            query.push(("q", name.as_str().to_owned()));
        }
        let path = if query.is_empty() {
            "/v1/workers".to_owned()
        } else {
            let encoded = serde_urlencoded::to_string(&query).map_err(|e| {
                RuntimeError::Internal(format!("a query that cannot be encoded: {e}"))
            })?;
            format!("/v1/workers?{encoded}")
        };
        // `not_found` is the runtime's answer to an `after` it does not hold.
        let result = self
            .inner
            .transport
            .json_or_not_found(
                Method::GET,
                &path,
                None::<&()>,
                Some(self.inner.timing.request_timeout),
            )
            .await;
        let mut list: WorkerList = self.outcome(result)?;
        for w in &mut list.workers {
            rewrite::summary(w, &self.inner.id);
        }
        Ok(list)
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError> {
        let mut detail: WorkerDetail = self
            .json(Method::POST, "/v1/workers", Some(&request))
            .await?;
        rewrite::detail(&mut detail, &self.inner.id);
        let _ = self
            .inner
            .monitor
            .send_message(MonitorMsg::Created(detail.summary.clone()));
        Ok(detail)
    }

    async fn worker(&self, worker_id: WorkerId) -> Result<WorkerDetail, RuntimeError> {
        let mut detail: WorkerDetail = self
            .json(
                Method::GET,
                &format!("/v1/workers/{worker_id}"),
                None::<&()>,
            )
            .await?;
        rewrite::detail(&mut detail, &self.inner.id);
        Ok(detail)
    }

    async fn rename_worker(
        &self,
        worker_id: WorkerId,
        display_name: String,
    ) -> Result<WorkerSummary, RuntimeError> {
        let mut summary: WorkerSummary = self
            .json(
                Method::PATCH,
                &format!("/v1/workers/{worker_id}"),
                Some(&RenameWorker { display_name }),
            )
            .await?;
        rewrite::summary(&mut summary, &self.inner.id);
        let _ = self
            .inner
            .monitor
            .send_message(MonitorMsg::Updated(summary.clone()));
        Ok(summary)
    }

    async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        let result = self
            .inner
            .transport
            .empty(
                Method::DELETE,
                &format!("/v1/workers/{worker_id}"),
                Some(self.inner.timing.request_timeout),
            )
            .await;
        self.outcome(result)?;
        let _ = self
            .inner
            .monitor
            .send_message(MonitorMsg::Stopped(worker_id));
        Ok(())
    }

    async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RuntimeError> {
        self.json(
            Method::POST,
            &format!("/v1/workers/{worker_id}/input"),
            Some(&input),
        )
        .await
    }

    /// Input that answers when the run ends. The runtime's run timeout
    /// should end it; ours ([`Timing::wait_timeout`]) bounds it whatever the
    /// runtime does, with the contract's `timeout`. A runtime that is slow
    /// to answer is not taken for an unreachable one.
    async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RuntimeError> {
        let path = format!("/v1/workers/{worker_id}/input?wait=true");
        let call = self
            .inner
            .transport
            .json(Method::POST, &path, Some(&input), None);
        match tokio::time::timeout(self.inner.timing.wait_timeout, call).await {
            Ok(result) => self.outcome(result),
            Err(_) => Err(RuntimeError::Api(ApiError::new(
                ErrorCode::Timeout,
                format!(
                    "the runtime did not answer within {} s; the run may still go on (see the worker's events)",
                    self.inner.timing.wait_timeout.as_secs()
                ),
            ))),
        }
    }

    async fn approve(
        &self,
        worker_id: WorkerId,
        call_id: String,
        request: yoi_protocol::ApprovalRequest,
    ) -> Result<yoi_protocol::ApprovalAnswer, RuntimeError> {
        let call = percent_encode_segment(&call_id);
        let result = self
            .inner
            .transport
            .json_or_not_found(
                Method::POST,
                &format!("/v1/workers/{worker_id}/approvals/{call}"),
                Some(&request),
                Some(self.inner.timing.request_timeout),
            )
            .await;
        self.outcome(result)
    }

    async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RuntimeError> {
        self.json(
            Method::POST,
            &format!("/v1/workers/{worker_id}/cancel"),
            None::<&()>,
        )
        .await
    }

    async fn remove_queued(
        &self,
        worker_id: WorkerId,
        message_id: MessageId,
    ) -> Result<(), RuntimeError> {
        let result = self
            .inner
            .transport
            .empty_or_not_found(
                Method::DELETE,
                &format!("/v1/workers/{worker_id}/queue/{message_id}"),
                Some(self.inner.timing.request_timeout),
            )
            .await;
        self.outcome(result)
    }

    async fn transcript(
        &self,
        worker_id: WorkerId,
        page: TranscriptPage,
    ) -> Result<Transcript, RuntimeError> {
        let mut path = format!("/v1/workers/{worker_id}/transcript?limit={}", page.limit);
        if let Some(before) = page.before {
            path.push_str(&format!("&before={before}"));
        }
        self.json(Method::GET, &path, None::<&()>).await
    }

    /// Reads the runtime's own search page by page (of the largest size)
    /// until it holds `request.depth()` hits or the runtime has no more.
    async fn search(
        &self,
        request: yoi_protocol::SearchRequest,
    ) -> Result<Vec<yoi_protocol::SearchHit>, RuntimeError> {
        let base = match request.worker_id {
            Some(worker_id) => format!("/v1/workers/{worker_id}/search"),
            None => "/v1/search".to_owned(),
        };
        let mut hits = Vec::new();
        while hits.len() < request.depth() {
            let query = request.to_query(hits.len(), yoi_protocol::SEARCH_MAX_LIMIT);
            let page: yoi_protocol::SearchResults = self
                .json(Method::GET, &format!("{base}?{query}"), None::<&()>)
                .await?;
            let last = page.next_after.is_none() || page.hits.is_empty();
            hits.extend(page.hits);
            if last {
                break;
            }
        }
        hits.truncate(request.depth());
        // The runtime names itself as this backend registered it.
        for hit in &mut hits {
            hit.runtime_id = self.id().clone();
        }
        Ok(hits)
    }

    async fn transcript_window(
        &self,
        worker_id: WorkerId,
        anchor: yoi_protocol::TranscriptAnchor,
        limit: usize,
    ) -> Result<yoi_protocol::TranscriptWindow, RuntimeError> {
        let at = match anchor {
            yoi_protocol::TranscriptAnchor::Around(id) => format!("around={id}"),
            yoi_protocol::TranscriptAnchor::After(id) => format!("after={id}"),
        };
        let path = format!("/v1/workers/{worker_id}/transcript?limit={limit}&{at}");
        // A message this worker never had is the runtime's own `not_found`.
        let result = self
            .inner
            .transport
            .json_or_not_found(
                Method::GET,
                &path,
                None::<&()>,
                Some(self.inner.timing.request_timeout),
            )
            .await;
        self.outcome(result)
    }

    async fn usage(
        &self,
        request: yoi_protocol::UsageRequest,
    ) -> Result<Vec<yoi_protocol::UsageGroup>, RuntimeError> {
        let path = format!("/v1/usage?{}", request.to_query());
        let report: yoi_protocol::UsageReport = self.json(Method::GET, &path, None::<&()>).await?;
        Ok(report.groups)
    }

    /// Opens the Worker's event socket (so that an unknown worker or an
    /// unreachable runtime is an error now), then follows it.
    async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RuntimeError> {
        let result = self
            .inner
            .transport
            .websocket(&stream::events_path(worker_id, cursor))
            .await;
        let socket = self.outcome(result)?;
        let follow = stream::Follow {
            runtime_id: self.inner.id.clone(),
            worker_id,
            transport: self.inner.transport.clone(),
            monitor: self.inner.monitor.clone(),
            timing: self.inner.timing,
        };
        Ok(follow.start(socket, cursor).into_stream())
    }

    /// Stops following the runtime; a local runtime's process is stopped
    /// too (its runs end with a terminal event first). A remote runtime
    /// keeps running: it is not ours to stop.
    async fn shutdown(&self) {
        self.inner.observer.abort();
        if let Some(process) = &self.inner.process {
            process.stop().await;
        }
    }
}

/// A path segment with everything but unreserved characters percent-encoded
/// (a call id is the model's provider's, not ours).
fn percent_encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
