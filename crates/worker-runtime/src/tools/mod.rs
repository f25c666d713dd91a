//! Tools: what a Worker may call, where the tools come from, and who may
//! use which.
//!
//! - [`ToolSource`]: one trait for every source of tools. `yoi` (operations
//!   of the workspace itself, [`yoi`]) lives here; sources that need a
//!   network or a child process (MCP) live in crates of their own and add
//!   no route, actor message or console code.
//! - [`ToolRegistry`]: every source of a runtime, gathered once; it finds a
//!   tool by its contract name (`<source>.<tool>`) and lists them all.
//! - [`grant`]: a profile's rules (`allow`, `ask`, `deny`); a tool that no
//!   rule names is never offered.
//! - [`names`]: contract names mapped to names a model accepts, both ways.
//!
//! The loop that runs calls during a run is the Worker's
//! (`worker::tool_loop`); it asks the registry and knows no tool by name.

pub mod grant;
pub mod names;
pub mod yoi;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use yoi_protocol::{
    RuntimeId, ToolInfo, ToolSourceInfo, ToolSourceKind, ToolSourceStatus, WorkerId,
};

pub use grant::{GrantError, ToolGrants};
pub use names::ModelNames;

/// Default `tools.max_rounds`: model turns with tool calls in one run.
pub const DEFAULT_MAX_ROUNDS: u32 = 16;
/// Default `tools.call_timeout_ms`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `tools.result_bytes`: most bytes of one result the model gets.
pub const DEFAULT_RESULT_BYTES: usize = 64 * 1024;
/// Default `tools.approval_timeout_ms`.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);
/// Most bytes of one call's arguments the model may send.
pub const MAX_ARGUMENT_BYTES: usize = 256 * 1024;

/// The bounds of tool calls, each set in `[tools]` of `yoi.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits {
    /// Model turns with tool calls in one run; past it the run fails
    /// `limit_reached`.
    pub max_rounds: u32,
    /// One call's time; past it the call ends "timed out" and the model is told.
    pub call_timeout: Duration,
    /// Most bytes of one result handed to the model (cut with a marker).
    pub result_bytes: usize,
    /// How long a call waits for a person before it is denied.
    pub approval_timeout: Duration,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            max_rounds: DEFAULT_MAX_ROUNDS,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            result_bytes: DEFAULT_RESULT_BYTES,
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
        }
    }
}

/// A tool as its source describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// Its name within the source (`list_workers`).
    pub name: String,
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub input_schema: serde_json::Value,
    /// Whether a call may change anything; a source that cannot tell says yes.
    pub may_change: bool,
}

/// Who calls, for tools that act on the workspace.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    /// `name@runtime` of the calling worker, shown as the sender of what it asks.
    pub display_ref: String,
    /// Workers that wait on this one through `yoi.ask_worker`, the first
    /// asker first (empty when a person asked).
    pub ask_chain: Vec<WorkerId>,
}

/// What a tool answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// What the model gets (bounded by the loop).
    pub text: String,
    /// One line for people (`12 workers`); the loop makes one if `None`.
    pub summary: Option<String>,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            summary: None,
        }
    }
}

/// A call that did not give a result. The model is told and the run goes
/// on: none of these ends a run (what does is the loop's, not a tool's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolFailure {
    /// The arguments are not what the tool takes; the tool was not called.
    #[error("invalid arguments: {0}")]
    BadArguments(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The tool's source cannot be reached now.
    #[error("the tool is unavailable: {0}")]
    Unavailable(String),
}

/// A source of tools: `yoi`, or an MCP server.
pub trait ToolSource: Send + Sync + 'static {
    /// The source's name: the first part of its tools' names.
    fn name(&self) -> &str;

    /// Its tools now (an MCP server's list may change while it runs).
    fn tools(&self) -> Vec<ToolDef>;

    /// Calls `tool` with arguments already checked against its schema.
    /// Dropping the future abandons the call; a source that can tell its
    /// tool to stop does so then.
    fn call(
        &self,
        tool: &str,
        arguments: serde_json::Value,
        context: CallContext,
    ) -> BoxFuture<'static, Result<ToolOutput, ToolFailure>>;

    /// What kind of source it is.
    fn kind(&self) -> ToolSourceKind;

    /// How it stands now, and why when it is not ready (never a command
    /// line, environment, URL or token).
    fn status(&self) -> (ToolSourceStatus, Option<String>) {
        (ToolSourceStatus::Ready, None)
    }

    /// Starts a source that starts when first needed (an MCP server in
    /// `lazy` mode); the future ends once it is ready or has failed, within
    /// a bound the source keeps. `None` when there is nothing to wait for.
    fn prepare(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// The time one call may take, when the source sets its own (else
    /// `tools.call_timeout_ms`).
    fn call_timeout(&self) -> Option<Duration> {
        None
    }
}

/// A tool found in the registry: its source and definition.
#[derive(Clone)]
pub struct FoundTool {
    pub source: Arc<dyn ToolSource>,
    pub def: ToolDef,
}

/// Every tool source of a runtime.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    sources: Vec<Arc<dyn ToolSource>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|s| s.name()))
            .finish()
    }
}

impl ToolRegistry {
    pub fn new(sources: Vec<Arc<dyn ToolSource>>) -> Self {
        Self { sources }
    }

    /// Every tool of every source, as `GET /api/tools` lists them.
    pub fn list(&self) -> Vec<ToolInfo> {
        let mut all: Vec<ToolInfo> = self
            .sources
            .iter()
            .flat_map(|source| {
                source.tools().into_iter().map(|def| ToolInfo {
                    name: format!("{}.{}", source.name(), def.name),
                    description: def.description,
                    source: source.name().to_owned(),
                    input_schema: def.input_schema,
                    may_change: def.may_change,
                })
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The contract names of every tool.
    pub fn names(&self) -> Vec<String> {
        self.list().into_iter().map(|t| t.name).collect()
    }

    /// The tool of a contract name.
    pub fn find(&self, name: &str) -> Option<FoundTool> {
        let (source_name, tool) = name.split_once('.')?;
        let source = self.sources.iter().find(|s| s.name() == source_name)?;
        let def = source.tools().into_iter().find(|d| d.name == tool)?;
        Some(FoundTool {
            source: source.clone(),
            def,
        })
    }

    /// Whether a source of this name is configured (its tools may be listed
    /// later, as an MCP server that is down).
    pub fn has_source(&self, name: &str) -> bool {
        self.sources.iter().any(|s| s.name() == name)
    }

    /// The names of every source.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name().to_owned()).collect()
    }

    /// Every source and how it stands, as `GET /api/tools` lists them.
    pub fn sources(&self) -> Vec<ToolSourceInfo> {
        self.sources
            .iter()
            .map(|source| {
                let (status, reason) = source.status();
                ToolSourceInfo {
                    name: source.name().to_owned(),
                    kind: source.kind(),
                    status,
                    reason,
                    tools: u32::try_from(source.tools().len()).unwrap_or(u32::MAX),
                }
            })
            .collect()
    }

    /// Starts the sources that `grants` may use and that start on demand;
    /// the future ends when each is ready or has failed. `None` when none
    /// has to be waited for.
    pub fn prepare(&self, grants: &ToolGrants) -> Option<BoxFuture<'static, ()>> {
        let waits: Vec<BoxFuture<'static, ()>> = self
            .sources
            .iter()
            .filter(|s| grants.may_use_source(s.name()))
            .filter_map(|s| s.prepare())
            .collect();
        if waits.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            futures::future::join_all(waits).await;
        }))
    }
}

/// What one worker's runs may call: its runtime's tools, its profile's
/// grants, and the bounds.
#[derive(Debug, Clone, Default)]
pub struct WorkerTools {
    pub registry: ToolRegistry,
    pub grants: ToolGrants,
    pub limits: ToolLimits,
}

impl WorkerTools {
    /// Starts what this worker's runs may use (see [`ToolRegistry::prepare`]).
    pub fn prepare(&self) -> Option<BoxFuture<'static, ()>> {
        if self.grants.is_empty() {
            return None;
        }
        self.registry.prepare(&self.grants)
    }

    /// The tools offered to the model now, with their policy.
    pub fn granted(&self) -> Vec<yoi_protocol::GrantedTool> {
        if self.grants.is_empty() {
            return Vec::new();
        }
        self.grants.granted(&self.registry.names())
    }
}
