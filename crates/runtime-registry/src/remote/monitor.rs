//! `MonitorActor`: what the backend knows about one runtime process, and the
//! observer task that keeps it current.
//!
//! The actor owns the runtime's health (`status`, `last_error`, `last_seen`),
//! the profiles it offers (from its summary) and the workers it is known to
//! hold. Three sources feed it, all by message: the observer task (a probe of
//! `GET /v1/runtime` every few seconds, with backoff while the runtime is
//! down, and the runtime's `/v1/events` socket), and the outcome of every
//! command the registry sends. From these it derives the workspace events of
//! this runtime (`worker_created`, `worker_updated`, `worker_stopped`,
//! `status`, `runtime_status`) with the registered runtime id. On every (re)connection of the events socket the
//! runtime's snapshot is compared with what the actor knew, so a runtime that
//! restarted without its workers reports them stopped.
//!
//! `runtime_status` is sent when the status or `last_error` changes, not for
//! every probe. `last_error` is cleared once the runtime is reachable again.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use reqwest::Method;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use yoi_protocol::{
    Capabilities, Diagnostics, ProfileSummary, RuntimeId, RuntimeKind, RuntimeStatus,
    RuntimeSummary, Timestamp, WorkerId, WorkerSummary, WorkspaceEvent,
};

use super::rewrite;
use super::transport::{CallError, Transport, Unreachable};
use super::Timing;

/// Stopped workers remembered, so a late `worker_created` cannot revive one.
const STOPPED_MEMORY: usize = 64;

pub enum MonitorMsg {
    Summary {
        reply: RpcReplyPort<RuntimeSummary>,
    },
    /// The workers the runtime is known to hold, while it is reachable.
    Workers {
        reply: RpcReplyPort<Option<Vec<WorkerSummary>>>,
    },
    /// A call reached the runtime.
    Reachable,
    /// A probe of the runtime's summary answered (its profiles with it).
    Probed(RuntimeSummary),
    /// A call could not reach the runtime.
    Unreachable(Unreachable),
    /// The first frame of the runtime's events socket: every worker it holds.
    Snapshot(Vec<WorkerSummary>),
    /// A live frame of the runtime's events socket, already re-labelled.
    Event(WorkspaceEvent),
    /// A worker was created by a command of ours.
    Created(WorkerSummary),
    /// A worker was renamed by a command of ours.
    Updated(WorkerSummary),
    /// A worker was stopped by a command of ours.
    Stopped(WorkerId),
    /// The observer is about to open the events socket; its snapshot will
    /// show the runtime as of a moment after this.
    Connecting,
}

pub struct MonitorArgs {
    pub runtime_id: RuntimeId,
    pub display_name: String,
    pub kind: RuntimeKind,
    pub events: broadcast::Sender<WorkspaceEvent>,
}

pub struct MonitorState {
    runtime_id: RuntimeId,
    display_name: String,
    kind: RuntimeKind,
    status: RuntimeStatus,
    last_error: Option<String>,
    last_seen: Option<Timestamp>,
    /// Ordered by id, which is creation order for ULIDs.
    workers: BTreeMap<WorkerId, WorkerSummary>,
    /// For each known worker, the `epoch` in which it became known.
    known_since: BTreeMap<WorkerId, u64>,
    /// Counts the events socket's connections (see `MonitorMsg::Connecting`).
    epoch: u64,
    stopped: VecDeque<WorkerId>,
    /// The profiles the runtime offers, from its last summary.
    profiles: Option<Vec<ProfileSummary>>,
    /// The tools its workers can be granted, from its last summary.
    tools: Option<Vec<yoi_protocol::ToolInfo>>,
    events: broadcast::Sender<WorkspaceEvent>,
}

impl MonitorState {
    fn summary(&self) -> RuntimeSummary {
        RuntimeSummary {
            runtime_id: self.runtime_id.clone(),
            display_name: self.display_name.clone(),
            kind: self.kind,
            status: self.status,
            capabilities: Capabilities::ALL,
            worker_count: self.workers.len() as u64,
            diagnostics: Some(Diagnostics {
                last_error: self.last_error.clone(),
                last_seen: self.last_seen,
            }),
            profiles: self.profiles.clone(),
            tools: self.tools.clone(),
        }
    }

    fn emit(&self, event: WorkspaceEvent) {
        // No listener is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    fn set_health(&mut self, status: RuntimeStatus, last_error: Option<String>) {
        worker_runtime::metrics::runtime_available(
            &self.runtime_id,
            status == RuntimeStatus::Available,
        );
        let changed = status != self.status || last_error != self.last_error;
        if status != self.status {
            match status {
                RuntimeStatus::Available => {
                    tracing::info!(runtime = %self.runtime_id, "runtime is available");
                }
                RuntimeStatus::Unavailable => tracing::warn!(
                    runtime = %self.runtime_id,
                    reason = last_error.as_deref().unwrap_or("unknown"),
                    "runtime is unavailable"
                ),
            }
        }
        self.status = status;
        self.last_error = last_error;
        if changed {
            self.emit(WorkspaceEvent::RuntimeStatus {
                runtime: self.summary(),
            });
        }
    }

    fn created(&mut self, worker: WorkerSummary) {
        if self.stopped.contains(&worker.worker_id) || self.workers.contains_key(&worker.worker_id)
        {
            return;
        }
        self.known_since.insert(worker.worker_id, self.epoch);
        self.workers.insert(worker.worker_id, worker.clone());
        self.emit(WorkspaceEvent::WorkerCreated { worker });
    }

    /// A known worker changed (name, last activity): announced once per change.
    fn updated(&mut self, worker: WorkerSummary) {
        let Some(known) = self.workers.get_mut(&worker.worker_id) else {
            return;
        };
        if *known != worker {
            *known = worker.clone();
            self.emit(WorkspaceEvent::WorkerUpdated { worker });
        }
    }

    fn stopped(&mut self, worker_id: WorkerId) {
        if self.stopped.len() == STOPPED_MEMORY {
            self.stopped.pop_front();
        }
        if !self.stopped.contains(&worker_id) {
            self.stopped.push_back(worker_id);
        }
        self.known_since.remove(&worker_id);
        if self.workers.remove(&worker_id).is_some() {
            self.emit(WorkspaceEvent::WorkerStopped {
                runtime_id: self.runtime_id.clone(),
                worker_id,
            });
        }
    }

    /// Brings the known workers in line with the runtime's own list.
    fn resync(&mut self, list: Vec<WorkerSummary>) {
        let fresh: BTreeMap<WorkerId, WorkerSummary> =
            list.into_iter().map(|w| (w.worker_id, w)).collect();
        // A worker that became known after the socket started connecting may
        // be newer than this snapshot (a command of ours created it): its
        // `worker_created` follows on the socket. Only older ones are gone.
        let gone: Vec<WorkerId> = self
            .workers
            .keys()
            .filter(|id| !fresh.contains_key(id))
            .filter(|id| self.known_since.get(id).is_none_or(|e| *e < self.epoch))
            .copied()
            .collect();
        for id in gone {
            self.stopped(id);
        }
        for (id, worker) in fresh {
            match self.workers.get(&id).map(|known| known.status) {
                Some(status) => {
                    if status != worker.status {
                        self.emit(WorkspaceEvent::Status {
                            runtime_id: self.runtime_id.clone(),
                            worker_id: id,
                            status: worker.status,
                        });
                    }
                    self.updated(worker);
                }
                None => {
                    // A worker the runtime holds is alive, whatever we remembered.
                    self.stopped.retain(|s| *s != id);
                    self.created(worker);
                }
            }
        }
    }
}

pub struct MonitorActor;

impl Actor for MonitorActor {
    type Msg = MonitorMsg;
    type State = MonitorState;
    type Arguments = MonitorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: MonitorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        worker_runtime::metrics::runtime_available(&args.runtime_id, false);
        Ok(MonitorState {
            runtime_id: args.runtime_id,
            display_name: args.display_name,
            kind: args.kind,
            // Not reached yet: the first probe decides.
            status: RuntimeStatus::Unavailable,
            last_error: None,
            last_seen: None,
            workers: BTreeMap::new(),
            known_since: BTreeMap::new(),
            epoch: 0,
            stopped: VecDeque::new(),
            profiles: None,
            tools: None,
            events: args.events,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MonitorMsg::Summary { reply } => {
                let _ = reply.send(state.summary());
            }
            MonitorMsg::Workers { reply } => {
                let known = (state.status == RuntimeStatus::Available)
                    .then(|| state.workers.values().cloned().collect());
                let _ = reply.send(known);
            }
            MonitorMsg::Probed(summary) => {
                state.profiles = summary.profiles;
                state.tools = summary.tools;
                state.last_seen = Some(Timestamp::now());
                state.set_health(RuntimeStatus::Available, None);
            }
            MonitorMsg::Reachable => {
                state.last_seen = Some(Timestamp::now());
                state.set_health(RuntimeStatus::Available, None);
            }
            MonitorMsg::Unreachable(reason) => {
                state.set_health(RuntimeStatus::Unavailable, Some(reason.to_string()));
            }
            MonitorMsg::Snapshot(list) => {
                state.last_seen = Some(Timestamp::now());
                state.resync(list);
            }
            MonitorMsg::Event(event) => {
                state.last_seen = Some(Timestamp::now());
                match event {
                    WorkspaceEvent::WorkerCreated { worker } => state.created(worker),
                    WorkspaceEvent::WorkerUpdated { worker } => state.updated(worker),
                    WorkspaceEvent::WorkerStopped { worker_id, .. } => state.stopped(worker_id),
                    WorkspaceEvent::Status {
                        runtime_id,
                        worker_id,
                        status,
                    } => {
                        if let Some(known) = state.workers.get_mut(&worker_id) {
                            known.status = status;
                            state.emit(WorkspaceEvent::Status {
                                runtime_id,
                                worker_id,
                                status,
                            });
                        }
                    }
                    // A runtime reports no runtime statuses of its own;
                    // snapshots come as `Snapshot`.
                    WorkspaceEvent::RuntimeStatus { .. }
                    | WorkspaceEvent::WorkspaceSnapshot { .. } => {}
                }
            }
            MonitorMsg::Created(worker) => state.created(worker),
            MonitorMsg::Updated(worker) => state.updated(worker),
            MonitorMsg::Stopped(worker_id) => state.stopped(worker_id),
            MonitorMsg::Connecting => state.epoch += 1,
        }
        Ok(())
    }
}

/// Tells the monitor how a call went; the runtime's own errors prove it reachable.
pub fn report<T>(monitor: &ActorRef<MonitorMsg>, result: &Result<T, CallError>) {
    let msg = match result {
        Ok(_) | Err(CallError::Api(_)) => MonitorMsg::Reachable,
        Err(CallError::Unreachable(reason)) => MonitorMsg::Unreachable(reason.clone()),
    };
    // A stopped monitor means the backend is shutting down.
    let _ = monitor.send_message(msg);
}

/// Tells the monitor how a probe went: its summary carries the profiles.
fn report_probe(monitor: &ActorRef<MonitorMsg>, probe: Result<&RuntimeSummary, CallError>) {
    let msg = match probe {
        Ok(summary) => MonitorMsg::Probed(summary.clone()),
        Err(CallError::Api(_)) => MonitorMsg::Reachable,
        Err(CallError::Unreachable(reason)) => MonitorMsg::Unreachable(reason),
    };
    let _ = monitor.send_message(msg);
}

/// The observer task: probes the runtime and follows its events socket,
/// forever (it is aborted when the runtime is unregistered or the backend stops).
pub async fn observe(
    runtime_id: RuntimeId,
    transport: Transport,
    monitor: ActorRef<MonitorMsg>,
    timing: Timing,
) {
    let mut delay = timing.retry_min;
    loop {
        let probe = probe(&transport, &timing).await;
        report_probe(&monitor, probe.as_ref().map_err(Clone::clone));
        if probe.is_ok() {
            if monitor.send_message(MonitorMsg::Connecting).is_err() {
                return;
            }
            match transport.websocket("/v1/events").await {
                Ok(socket) => {
                    let since = tokio::time::Instant::now();
                    follow(&runtime_id, socket, &transport, &monitor, &timing).await;
                    // A socket that lived a while ended: probe again at once.
                    // One that ends as soon as it opens is retried with backoff.
                    if since.elapsed() >= timing.health_every {
                        delay = timing.retry_min;
                        continue;
                    }
                }
                Err(e) => report::<()>(&monitor, &Err(e)),
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(timing.retry_max);
    }
}

async fn probe(transport: &Transport, timing: &Timing) -> Result<RuntimeSummary, CallError> {
    transport
        .json(
            Method::GET,
            "/v1/runtime",
            None::<&()>,
            Some(
                timing
                    .request_timeout
                    .min(timing.health_every * 2 + Duration::from_secs(1)),
            ),
        )
        .await
}

/// Reads the runtime's events socket until it ends or a probe fails.
async fn follow(
    runtime_id: &RuntimeId,
    mut socket: super::transport::WsStream,
    transport: &Transport,
    monitor: &ActorRef<MonitorMsg>,
    timing: &Timing,
) {
    let mut tick = tokio::time::interval(timing.health_every);
    tick.tick().await;
    let mut quiet = tokio::time::Instant::now();
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    quiet = tokio::time::Instant::now();
                    let Ok(mut event) = serde_json::from_str::<WorkspaceEvent>(&text) else {
                        tracing::warn!(runtime = %runtime_id, "a runtime sent a frame that is not a workspace event");
                        continue;
                    };
                    rewrite::workspace(&mut event, runtime_id);
                    let msg = match event {
                        WorkspaceEvent::WorkspaceSnapshot { workers, .. } => MonitorMsg::Snapshot(workers),
                        other => MonitorMsg::Event(other),
                    };
                    if monitor.send_message(msg).is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => quiet = tokio::time::Instant::now(),
            },
            _ = tick.tick() => {
                if quiet.elapsed() > timing.silence_limit {
                    report::<()>(monitor, &Err(CallError::Unreachable(Unreachable::TimedOut)));
                    return;
                }
                let probe = probe(transport, timing).await;
                report_probe(monitor, probe.as_ref().map_err(Clone::clone));
                if probe.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::{ProfileInfo, WorkerStatus};

    fn state() -> (MonitorState, broadcast::Receiver<WorkspaceEvent>) {
        let (events, rx) = broadcast::channel(16);
        let state = MonitorState {
            runtime_id: RuntimeId::parse("far").unwrap(),
            display_name: "far".into(),
            kind: RuntimeKind::Remote,
            status: RuntimeStatus::Available,
            last_error: None,
            last_seen: None,
            workers: BTreeMap::new(),
            known_since: BTreeMap::new(),
            epoch: 0,
            stopped: VecDeque::new(),
            profiles: None,
            tools: None,
            events,
        };
        (state, rx)
    }

    fn worker() -> WorkerSummary {
        let id = WorkerId::new();
        WorkerSummary {
            runtime_id: RuntimeId::parse("far").unwrap(),
            worker_id: id,
            display_name: "w".into(),
            display_ref: "w@far".into(),
            status: WorkerStatus::Idle,
            profile: ProfileInfo {
                name: "companion".into(),
                model: "m".into(),
            },
            last_activity: None,
            last_message: None,
        }
    }

    #[test]
    fn a_snapshot_older_than_a_create_does_not_stop_the_new_worker() {
        let (mut s, mut rx) = state();
        s.epoch += 1; // the socket starts connecting
        let w = worker();
        s.created(w.clone()); // our own create answers first
        s.resync(Vec::new()); // the snapshot, taken before the create
        assert_eq!(s.summary().worker_count, 1);
        assert!(matches!(
            rx.try_recv(),
            Ok(WorkspaceEvent::WorkerCreated { .. })
        ));
        assert!(rx.try_recv().is_err(), "no worker_stopped was made up");
    }

    #[test]
    fn a_rename_is_announced_once_whichever_way_it_arrives() {
        let (mut s, mut rx) = state();
        let w = worker();
        s.created(w.clone());
        assert!(matches!(
            rx.try_recv(),
            Ok(WorkspaceEvent::WorkerCreated { .. })
        ));
        let mut renamed = w.clone();
        renamed.display_name = "notes".into();
        renamed.display_ref = "notes@far".into();
        s.updated(renamed.clone()); // our own command's answer
        s.updated(renamed.clone()); // the runtime's own worker_updated
        s.resync(vec![renamed.clone()]); // a later snapshot
        match rx.try_recv() {
            Ok(WorkspaceEvent::WorkerUpdated { worker }) => assert_eq!(worker, renamed),
            other => panic!("expected worker_updated, got {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "announced once");
        let mut unknown = worker();
        unknown.display_name = "ghost".into();
        s.updated(unknown);
        assert!(rx.try_recv().is_err(), "an unknown worker is not made up");
    }

    #[test]
    fn a_snapshot_without_an_older_worker_stops_it() {
        let (mut s, mut rx) = state();
        let w = worker();
        s.created(w.clone());
        assert!(matches!(
            rx.try_recv(),
            Ok(WorkspaceEvent::WorkerCreated { .. })
        ));
        s.epoch += 1; // reconnecting after the runtime restarted without it
        s.resync(Vec::new());
        assert_eq!(s.summary().worker_count, 0);
        match rx.try_recv() {
            Ok(WorkspaceEvent::WorkerStopped {
                runtime_id,
                worker_id,
            }) => {
                assert_eq!(worker_id, w.worker_id);
                assert_eq!(runtime_id, s.runtime_id);
            }
            other => panic!("expected worker_stopped, got {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "stopped once");
    }
}
