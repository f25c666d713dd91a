//! The process's Prometheus metrics (`GET /metrics`, `/v1/metrics`), kept
//! with the Prometheus org's `prometheus-client` and written in its text
//! format by [`encode`].
//!
//! One set per process, in a `static`: the counters are what this process
//! did, whichever runtime or server did it, and every place that counts
//! (the Worker's core, the store's writer thread, the socket pumps, the
//! registry's monitor) reaches it without a handle threaded through every
//! constructor. Counting is an atomic add; a labelled family takes a read
//! lock to find its child, which only happens at a run's start or end, a
//! tool call, a commit or a socket's open and close: never per token.
//!
//! Labels are bounded: profile names (from the configuration), runtime ids
//! (registered), error codes, outcomes and statuses (enums). Never a worker
//! id, a text, a key, a URL or a path.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use yoi_protocol::WorkerStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProfileLabel {
    pub profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunEndLabels {
    pub profile: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub profile: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuntimeLabel {
    pub runtime: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: &'static str,
}

/// Every metric of the process (see the README for each one's meaning).
pub struct Metrics {
    registry: Registry,
    pub runs_started: Family<ProfileLabel, Counter>,
    pub runs_ended: Family<RunEndLabels, Counter>,
    pub tokens: Family<TokenLabels, Counter>,
    pub provider_errors: Family<CodeLabel, Counter>,
    pub first_token: Histogram,
    pub run_duration: Histogram,
    pub workers: Family<StatusLabel, Gauge>,
    pub event_sockets: Gauge,
    pub workspace_sockets: Gauge,
    pub event_loop_threads: Gauge,
    pub queued_inputs: Gauge,
    pub slow_sockets_dropped: Counter,
    pub runtime_available: Family<RuntimeLabel, Gauge>,
    pub store_commit: Histogram,
    pub tool_calls: Family<OutcomeLabel, Counter>,
    pub approvals: Family<DecisionLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("yoi"),
            runs_started: Family::default(),
            runs_ended: Family::default(),
            tokens: Family::default(),
            provider_errors: Family::default(),
            // 10 ms to about 2 minutes.
            first_token: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            // 50 ms to about 14 minutes.
            run_duration: Histogram::new(exponential_buckets(0.05, 2.0, 15)),
            workers: Family::default(),
            event_sockets: Gauge::default(),
            workspace_sockets: Gauge::default(),
            event_loop_threads: Gauge::default(),
            queued_inputs: Gauge::default(),
            slow_sockets_dropped: Counter::default(),
            runtime_available: Family::default(),
            // 0.1 ms to about 3 s.
            store_commit: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            tool_calls: Family::default(),
            approvals: Family::default(),
        };
        m.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "runs_started",
            "Runs started, by profile",
            self.runs_started.clone(),
        );
        r.register(
            "runs_ended",
            "Runs ended, by profile and outcome (completed, failed, cancelled)",
            self.runs_ended.clone(),
        );
        r.register(
            "tokens",
            "Tokens the provider reported, by profile and kind (prompt, completion)",
            self.tokens.clone(),
        );
        r.register(
            "provider_errors",
            "Runs that failed, by the error's code (provider_error, timeout, limit_reached, ...)",
            self.provider_errors.clone(),
        );
        r.register(
            "first_token_seconds",
            "Time from a run's start to the provider's first token, tool call or end",
            self.first_token.clone(),
        );
        r.register(
            "run_duration_seconds",
            "How long runs took, from start to end, whatever the outcome",
            self.run_duration.clone(),
        );
        self.register_gauges()
    }

    /// The rest: what the process holds now, and the counts of its
    /// sockets, store and tools.
    fn register_gauges(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "workers",
            "Workers of this process's runtime, by status",
            self.workers.clone(),
        );
        r.register(
            "event_sockets",
            "Worker event sockets open",
            self.event_sockets.clone(),
        );
        r.register(
            "workspace_sockets",
            "Workspace event sockets open (/api/events, /v1/events)",
            self.workspace_sockets.clone(),
        );
        r.register(
            "queued_inputs",
            "Inputs waiting in workers' queues",
            self.queued_inputs.clone(),
        );
        r.register(
            "slow_sockets_dropped",
            "Sockets dropped because their client stopped reading",
            self.slow_sockets_dropped.clone(),
        );
        r.register(
            "runtime_available",
            "1 while a registered runtime answers, 0 while it cannot be reached",
            self.runtime_available.clone(),
        );
        r.register(
            "store_commit_seconds",
            "Time one commit of the store's writer took",
            self.store_commit.clone(),
        );
        r.register(
            "tool_calls",
            "Tool calls ended, by outcome (ok, error, denied, cancelled, interrupted)",
            self.tool_calls.clone(),
        );
        r.register(
            "event_loop_threads",
            "Threads that run the server's event loop (YOI_THREADS)",
            self.event_loop_threads.clone(),
        );
        r.register(
            "approvals",
            "A person's decisions on tool calls, by decision (allow, deny; timeout when none came)",
            self.approvals.clone(),
        );
        self
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Every metric in the Prometheus text format (version 0.0.4 readers take
/// it too; the content type is [`CONTENT_TYPE`]).
pub fn encode() -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        // Writing to a String does not fail; an empty answer is still valid.
        out.clear();
    }
    out
}

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn status_label(status: WorkerStatus) -> &'static str {
    match status {
        WorkerStatus::Idle => "idle",
        WorkerStatus::Running => "running",
        WorkerStatus::WaitingApproval => "waiting_approval",
        WorkerStatus::Stopped => "stopped",
        WorkerStatus::Quarantined => "quarantined",
    }
}

/// A Worker's place in the `workers` and `queued_inputs` gauges: it counts
/// while it lives and gives its place back when dropped.
#[derive(Debug)]
pub struct WorkerGauges {
    status: WorkerStatus,
    queued: i64,
}

impl WorkerGauges {
    pub fn new(status: WorkerStatus) -> Self {
        metrics()
            .workers
            .get_or_create(&StatusLabel {
                status: status_label(status),
            })
            .inc();
        Self { status, queued: 0 }
    }

    pub fn set_status(&mut self, status: WorkerStatus) {
        if status == self.status {
            return;
        }
        let m = metrics();
        m.workers
            .get_or_create(&StatusLabel {
                status: status_label(self.status),
            })
            .dec();
        m.workers
            .get_or_create(&StatusLabel {
                status: status_label(status),
            })
            .inc();
        self.status = status;
    }

    /// The Worker's queue holds `len` inputs now.
    pub fn set_queued(&mut self, len: usize) {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        if len == self.queued {
            // Every event passes here: no shared write when nothing changed.
            return;
        }
        metrics().queued_inputs.inc_by(len - self.queued);
        self.queued = len;
    }
}

impl Drop for WorkerGauges {
    fn drop(&mut self) {
        let m = metrics();
        m.workers
            .get_or_create(&StatusLabel {
                status: status_label(self.status),
            })
            .dec();
        m.queued_inputs.dec_by(self.queued);
    }
}

/// One open socket in a gauge, for as long as it lives.
#[derive(Debug)]
pub struct OpenSocket(&'static Gauge);

impl OpenSocket {
    pub fn event() -> Self {
        Self::counting(&metrics().event_sockets)
    }

    pub fn workspace() -> Self {
        Self::counting(&metrics().workspace_sockets)
    }

    fn counting(gauge: &'static Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A run started with `profile`.
pub fn run_started(profile: &str) {
    metrics()
        .runs_started
        .get_or_create(&ProfileLabel {
            profile: profile.to_owned(),
        })
        .inc();
}

/// A run ended: its outcome, its tokens, its duration, and its error's code
/// when it failed.
pub fn run_ended(
    profile: &str,
    outcome: &'static str,
    usage: yoi_protocol::RunUsage,
    duration: Duration,
    error: Option<yoi_protocol::ErrorCode>,
) {
    let m = metrics();
    m.runs_ended
        .get_or_create(&RunEndLabels {
            profile: profile.to_owned(),
            outcome,
        })
        .inc();
    for (kind, n) in [
        ("prompt", usage.prompt_tokens),
        ("completion", usage.completion_tokens),
    ] {
        m.tokens
            .get_or_create(&TokenLabels {
                profile: profile.to_owned(),
                kind,
            })
            .inc_by(n);
    }
    m.run_duration.observe(duration.as_secs_f64());
    if let Some(code) = error {
        m.provider_errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }
}

pub fn tool_call_ended(state: yoi_protocol::ToolCallState) {
    use yoi_protocol::ToolCallState as S;
    let outcome = match state {
        S::Ok => "ok",
        S::Error => "error",
        S::Denied => "denied",
        S::Cancelled => "cancelled",
        S::Interrupted => "interrupted",
        // Not an end: not counted.
        S::WaitingApproval | S::Running => return,
    };
    metrics()
        .tool_calls
        .get_or_create(&OutcomeLabel { outcome })
        .inc();
}

pub fn approval(decision: yoi_protocol::ApprovalDecision) {
    let decision = match decision {
        yoi_protocol::ApprovalDecision::Allow => "allow",
        yoi_protocol::ApprovalDecision::Deny => "deny",
    };
    metrics()
        .approvals
        .get_or_create(&DecisionLabel { decision })
        .inc();
}

pub fn runtime_available(runtime: &yoi_protocol::RuntimeId, available: bool) {
    metrics()
        .runtime_available
        .get_or_create(&RuntimeLabel {
            runtime: runtime.to_string(),
        })
        .set(i64::from(available));
}
