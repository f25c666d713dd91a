//! Request and answer bodies of the REST routes.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    ClientMessageId, Message, MessageId, RunId, RuntimeSummary, Seq, Usage, WorkerSummary,
};

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `GET /api/runtimes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RuntimeList {
    pub runtimes: Vec<RuntimeSummary>,
}

/// `GET /api/runtimes/{runtime_id}/workers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerList {
    pub workers: Vec<WorkerSummary>,
}

/// `POST /api/runtimes/{runtime_id}/workers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct CreateWorker {
    /// 1 to 64 characters once trimmed, no control characters, no `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    // Whitespace around 1 to 64 characters that start and end with neither
    // whitespace nor `@`, no control character or `@` anywhere (Rust's
    // whitespace: what `str::trim` removes).
    #[schema(
        pattern = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@]([^\\u0000-\\u001f\\u007f-\\u009f@]{0,62}[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f@])?[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// `companion`, the only profile of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(pattern = "^companion$")]
    pub profile: Option<String>,
}

/// `POST .../input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct InputRequest {
    // At least one character that is not whitespace; `maxLength` counts
    // characters, the limit is 32768 UTF-8 bytes.
    #[schema(
        min_length = 1,
        max_length = 32768,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_message_id: Option<ClientMessageId>,
}

/// 202 answer of `POST .../input`: the input joined the transcript at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct InputAccepted {
    pub run_id: RunId,
    pub message_id: MessageId,
    pub seq: Seq,
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

/// `GET .../transcript`: the newest `limit` messages and the watermark `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Transcript {
    pub messages: Vec<Message>,
    pub seq: Seq,
    /// Whether older messages exist than those returned.
    pub truncated: bool,
}
