//! MCP servers as tool sources of a yoi runtime, on the official Rust SDK
//! (`rmcp`).
//!
//! - [`McpServerConfig`] ([`config`]): one `[mcp.<name>]` as the binary
//!   checked it: a child process on stdio ([`Transport::Stdio`], with its
//!   whole environment: the allowlist of [`inherited_env`] plus its own
//!   `env`) or a streamable HTTP server ([`Transport::Http`]); lazy or
//!   eager start; its own call timeout.
//! - [`McpSource`] ([`source`]): the server as a
//!   [`worker_runtime::tools::ToolSource`]. Tools are `<server>.<tool>`
//!   and go through the tool loop's grants, approvals, bounds and storage
//!   like yoi's own.
//! - The supervisor ([`supervisor`]): one task per server that starts it
//!   (when a run of a worker that may use it needs it, or at once), lists
//!   its tools again on `notifications/tools/list_changed`, starts it again
//!   with backoff when it dies, and stops it with its runtime.
//!
//! Data flow of a call: the worker's tool loop -> [`McpSource::call`] ->
//! `tools/call` on the server's connection -> the result's text ([`output`])
//! -> the loop bounds and records it. Dropping the call (cancel, the
//! deadline) makes rmcp send `notifications/cancelled`. A status reason
//! never holds the command line, environment, URL or token ([`redact`]).

pub mod config;
mod connect;
mod output;
mod redact;
pub mod source;
pub mod supervisor;

use std::sync::Arc;

pub use config::{inherited_env, McpServerConfig, StartMode, Transport, INHERITED_ENV};
pub use source::McpSource;
use worker_runtime::tools::ToolSource;

/// A source for each server, their supervisors started (eager servers
/// start now). Needs a Tokio runtime.
pub fn start_sources(configs: Vec<McpServerConfig>) -> Vec<Arc<dyn ToolSource>> {
    configs
        .into_iter()
        .map(|config| Arc::new(McpSource::start(config)) as Arc<dyn ToolSource>)
        .collect()
}
