//! [`McpSource`]: one MCP server as a [`ToolSource`]. It reads what its
//! supervisor task publishes (status, tools, the connection) and never
//! waits for it, except in [`ToolSource::prepare`], which a run's first
//! turn awaits when the server starts on demand.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::model::CallToolRequestParams;
use rmcp::ServiceError;
use tokio::sync::{mpsc, watch};
use worker_runtime::tools::{CallContext, ToolDef, ToolFailure, ToolOutput, ToolSource};
use yoi_protocol::{ToolSourceKind, ToolSourceStatus};

use crate::config::McpServerConfig;
use crate::output::from_result;
use crate::redact::scrub;
use crate::supervisor::{supervise, State, START_TIMEOUT};

/// One configured MCP server. Dropping the last handle stops its server.
pub struct McpSource {
    name: String,
    state: watch::Receiver<State>,
    /// Wakes a lazy server; closing it (the source dropped) stops the server.
    wake: mpsc::Sender<()>,
    call_timeout: Option<Duration>,
    secrets: Arc<Vec<String>>,
}

impl McpSource {
    /// Starts the server's supervisor (an eager server starts now). Needs a
    /// Tokio runtime.
    pub fn start(config: McpServerConfig) -> Self {
        let (state_tx, state) = watch::channel(State::initial(config.start));
        // One wake-up pending is enough; more add nothing.
        let (wake, wake_rx) = mpsc::channel(1);
        let source = Self {
            name: config.name.clone(),
            state,
            wake,
            call_timeout: config.call_timeout,
            secrets: Arc::new(config.secrets()),
        };
        tokio::spawn(supervise(config, state_tx, wake_rx));
        source
    }

    /// Waits until the server is ready or down (at most `within`); its
    /// status then. Starts a lazy server.
    pub async fn ready(&self, within: Duration) -> ToolSourceStatus {
        let _ = self.wake.try_send(());
        let mut state = self.state.clone();
        let settled = tokio::time::timeout(
            within,
            state
                .wait_for(|s| matches!(s.status, ToolSourceStatus::Ready | ToolSourceStatus::Down)),
        )
        .await;
        match settled {
            Ok(Ok(s)) => s.status,
            _ => self.state.borrow().status,
        }
    }
}

/// What the model is told when a call got no result from the server.
fn call_failure(name: &str, secrets: &[String], e: &ServiceError) -> ToolFailure {
    match e {
        // The tool's own error in the protocol.
        ServiceError::McpError(error) => ToolFailure::Failed(scrub(&error.message, secrets)),
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => ToolFailure::Failed(
            format!("the MCP server `{name}` stopped during the call (it is started again)"),
        ),
        other => ToolFailure::Failed(format!(
            "the MCP server `{name}` did not answer the call: {}",
            scrub(&other.to_string(), secrets)
        )),
    }
}

impl ToolSource for McpSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ToolSourceKind {
        ToolSourceKind::Mcp
    }

    fn tools(&self) -> Vec<ToolDef> {
        self.state.borrow().tools.as_ref().clone()
    }

    fn status(&self) -> (ToolSourceStatus, Option<String>) {
        let state = self.state.borrow();
        (state.status, state.reason.clone())
    }

    fn prepare(&self) -> Option<BoxFuture<'static, ()>> {
        match self.state.borrow().status {
            ToolSourceStatus::Ready | ToolSourceStatus::Down => return None,
            ToolSourceStatus::NotStarted | ToolSourceStatus::Starting => {}
        }
        let _ = self.wake.try_send(());
        let mut state = self.state.clone();
        Some(Box::pin(async move {
            let _ = tokio::time::timeout(
                START_TIMEOUT,
                state.wait_for(|s| {
                    matches!(s.status, ToolSourceStatus::Ready | ToolSourceStatus::Down)
                }),
            )
            .await;
        }))
    }

    fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    fn call(
        &self,
        tool: &str,
        arguments: serde_json::Value,
        _context: CallContext,
    ) -> BoxFuture<'static, Result<ToolOutput, ToolFailure>> {
        let (peer, reason) = {
            let state = self.state.borrow();
            (state.peer.clone(), state.reason.clone())
        };
        let Some(peer) = peer else {
            let why = reason.unwrap_or_else(|| "it is not running".to_owned());
            let failure =
                ToolFailure::Unavailable(format!("the MCP server `{}`: {why}", self.name));
            return Box::pin(async move { Err(failure) });
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let serde_json::Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        let (name, secrets) = (self.name.clone(), self.secrets.clone());
        // Dropping this future (cancel, stop, the call's deadline) drops
        // the request, and rmcp sends `notifications/cancelled` for it.
        Box::pin(async move {
            match peer.call_tool(params).await {
                Ok(result) => from_result(result),
                Err(e) => Err(call_failure(&name, &secrets, &e)),
            }
        })
    }
}
