//! Request and answer bodies of the REST routes.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    ClientMessageId, Message, MessageId, ProfileSummary, RunId, RuntimeSummary, Seq, Usage,
    WorkerId, WorkerSummary,
};

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` while `store` is `unavailable`.
    pub status: String,
    pub version: String,
    /// Whether the embedded runtime's store writes (an addition to the contract).
    pub store: StoreHealth,
}

/// The embedded runtime's store in `/api/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreHealth {
    /// Its last write was committed (or it keeps nothing on disk).
    Ok,
    /// Its last write failed (disk full, I/O error): inputs answer
    /// `store_unavailable` until a write succeeds again.
    Unavailable,
}

/// `GET /api/runtimes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RuntimeList {
    pub runtimes: Vec<RuntimeSummary>,
}

/// `GET /api/runtimes/{runtime_id}/workers`: a page of workers in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerList {
    pub workers: Vec<WorkerSummary>,
    /// Set when more workers follow this page: pass it as `after` for the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_after: Option<WorkerId>,
}

/// What `GET .../workers` asks for:
/// `?order=created|activity&limit=N&after=<worker_id>&q=<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPage {
    /// At most this many workers; all when `None`.
    pub limit: Option<usize>,
    /// Only workers after this one in `order` (where it stands now).
    pub after: Option<WorkerId>,
    pub order: crate::WorkerOrder,
    /// Only workers whose name matches.
    pub name: Option<crate::NameQuery>,
}

impl WorkerPage {
    /// Every worker, in one page.
    pub fn all() -> Self {
        Self::default()
    }
}

/// `POST /api/runtimes/{runtime_id}/workers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct CreateWorker {
    /// 1 to 80 characters once trimmed, no control characters, no `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    // Whitespace around 1 to 80 characters that start and end with neither
    // whitespace nor `@`, no control character or `@` anywhere (Rust's
    // whitespace: what `str::trim` removes).
    #[schema(
        pattern = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@]([^\\u0000-\\u001f\\u007f-\\u009f@]{0,78}[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@])?[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// A profile the runtime offers (`GET /api/profiles`); `companion` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub profile: Option<String>,
}

/// `GET /api/profiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ProfileList {
    pub profiles: Vec<ProfileSummary>,
}

/// `PATCH /api/runtimes/{runtime_id}/workers/{worker_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RenameWorker {
    /// 1 to 80 characters once trimmed, no control characters, no `@`.
    #[schema(
        pattern = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@]([^\\u0000-\\u001f\\u007f-\\u009f@]{0,78}[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@])?[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub display_name: String,
}

/// `POST .../input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct InputRequest {
    /// The message: at least one character that is not whitespace, at most
    /// 32768 characters (Unicode code points, as `maxLength` counts them;
    /// `invalid_input` past it).
    #[schema(
        min_length = 1,
        max_length = 32768,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_message_id: Option<ClientMessageId>,
    /// What to do while a run is in flight: `reject` (the default) answers
    /// `busy`, `queue` keeps the input until the runs before it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub on_busy: Option<OnBusy>,
}

impl InputRequest {
    /// An input of `text` alone: no client message id, and `busy` while a
    /// run is in flight.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            client_message_id: None,
            on_busy: None,
        }
    }
}

/// The busy policy of one input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBusy {
    /// `409 busy` while a run is in flight.
    #[default]
    Reject,
    /// Wait in the worker's queue (`409 queue_full` when it is full).
    Queue,
}

/// 202 answer of `POST .../input`: the input joined the transcript at `seq`,
/// or, with `queued`, joined the worker's queue at `seq` (its
/// `input_queued`); its run then starts with this `run_id` when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct InputAccepted {
    pub run_id: RunId,
    pub message_id: MessageId,
    pub seq: Seq,
    /// Set when the input waits in the queue rather than running now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub queued: bool,
    /// With `queued`: its place in the queue, 1 for the next to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub position: Option<u32>,
}

impl InputAccepted {
    /// An input whose run started at once.
    pub fn started(run_id: RunId, message_id: MessageId, seq: Seq) -> Self {
        Self {
            run_id,
            message_id,
            seq,
            queued: false,
            position: None,
        }
    }
}

/// 200 answer of `POST .../input?wait=true`: the run ended well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RunOutcome {
    pub run_id: RunId,
    pub message: Message,
    pub usage: Usage,
}

/// 202 answer of `POST .../cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct CancelAccepted {
    pub run_id: RunId,
}

/// What `GET .../transcript` asks for: `?limit=N&before=<message_id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscriptPage {
    /// At most this many messages (see [`crate::transcript_limit`]).
    pub limit: usize,
    /// Only messages older than this one; the newest when `None`.
    pub before: Option<MessageId>,
}

impl TranscriptPage {
    /// The newest `limit` messages.
    pub fn newest(limit: usize) -> Self {
        Self {
            limit,
            before: None,
        }
    }
}

/// `GET .../transcript`: the newest `limit` messages (or those before
/// `before`) and the watermark `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Transcript {
    pub messages: Vec<Message>,
    pub seq: Seq,
    /// Whether older messages exist than those returned.
    pub truncated: bool,
}
