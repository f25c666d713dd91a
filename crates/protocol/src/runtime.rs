//! Runtimes as clients see them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{ProfileSummary, RuntimeId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    /// Inside the backend process, called directly.
    Embedded,
    /// A child process of the backend, on a Unix socket.
    Local,
    /// `yoi runtime serve` elsewhere, over HTTP and WebSocket.
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeStatus {
    Available,
    Unavailable,
}

/// What a runtime kind can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Capabilities {
    pub workers: bool,
    pub create_worker: bool,
    pub cancel: bool,
    pub events: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        workers: true,
        create_worker: true,
        cancel: true,
        events: true,
    };
}

/// Health of a runtime the backend reaches over the network. Never holds a URL,
/// a path or a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Diagnostics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_seen: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RuntimeSummary {
    pub runtime_id: RuntimeId,
    pub display_name: String,
    pub kind: RuntimeKind,
    pub status: RuntimeStatus,
    pub capabilities: Capabilities,
    #[ts(type = "number")]
    pub worker_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub diagnostics: Option<Diagnostics>,
    /// The profiles it offers, once known (an addition to the contract;
    /// absent for a runtime process not reached yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub profiles: Option<Vec<ProfileSummary>>,
    /// The tools its workers can be granted, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tools: Option<Vec<crate::ToolInfo>>,
}
