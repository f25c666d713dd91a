//! The task that owns one server: starts it (at once, or when first
//! needed), lists its tools, lists them again on
//! `notifications/tools/list_changed`, notices when it dies and starts it
//! again with backoff, and stops it when its source is dropped (its
//! runtime stops). What it learns it publishes on a `watch` channel that
//! the source reads without waiting.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::Tool;
use rmcp::service::{Peer, QuitReason};
use rmcp::RoleClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use worker_runtime::tools::ToolDef;
use yoi_protocol::ToolSourceStatus;

use crate::config::{McpServerConfig, StartMode};
use crate::connect::{connect, Client};
use crate::redact::scrub;

/// How long a start (spawn or connect, handshake, first list) may take.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait before a start again; doubled each time, up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long is started again after [`MIN_BACKOFF`].
const STABLE: Duration = Duration::from_secs(60);

/// How a server stands, as its source shows it.
#[derive(Clone)]
pub(crate) struct State {
    pub status: ToolSourceStatus,
    pub reason: Option<String>,
    pub tools: Arc<Vec<ToolDef>>,
    /// The connection, while it is ready.
    pub peer: Option<Peer<RoleClient>>,
}

impl State {
    pub(crate) fn initial(start: StartMode) -> Self {
        Self {
            status: match start {
                StartMode::Lazy => ToolSourceStatus::NotStarted,
                StartMode::Eager => ToolSourceStatus::Starting,
            },
            reason: None,
            tools: Arc::new(Vec::new()),
            peer: None,
        }
    }

    fn down(reason: String) -> Self {
        Self {
            status: ToolSourceStatus::Down,
            reason: Some(reason),
            tools: Arc::new(Vec::new()),
            peer: None,
        }
    }
}

/// Runs until every sender of `wake` is gone (the source was dropped).
pub(crate) async fn supervise(
    config: McpServerConfig,
    state: watch::Sender<State>,
    mut wake: mpsc::Receiver<()>,
) {
    if config.start == StartMode::Lazy && wake.recv().await.is_none() {
        return;
    }
    let mut backoff = MIN_BACKOFF;
    loop {
        state.send_replace(State {
            status: ToolSourceStatus::Starting,
            ..State::initial(StartMode::Eager)
        });
        let started = Instant::now();
        let why = tokio::select! {
            why = run_once(&config, &state) => why,
            () = closed(&mut wake) => return,
        };
        tracing::warn!(mcp = %config.name, "MCP server is down: {why}; starting it again in {} ms", backoff.as_millis());
        state.send_replace(State::down(format!("{why}; it is started again shortly")));
        if started.elapsed() >= STABLE {
            backoff = MIN_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = closed(&mut wake) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits until the source is dropped (wake-ups on the way are taken).
async fn closed(wake: &mut mpsc::Receiver<()>) {
    while wake.recv().await.is_some() {}
}

/// One life of the server: start, serve, end; why it ended by itself or
/// could not start. The caller stops it by dropping this future, which
/// drops the connection and kills a child.
async fn run_once(config: &McpServerConfig, state: &watch::Sender<State>) -> String {
    let secrets = config.secrets();
    let (changed_tx, mut changed) = mpsc::channel(1);
    let client = Client {
        changed: changed_tx,
    };
    let opened = tokio::time::timeout(START_TIMEOUT, async {
        let connection = connect(config, client)
            .await
            .map_err(|e| scrub(&e.to_string(), &secrets))?;
        let tools = list(connection.peer(), &secrets).await?;
        Ok::<_, String>((connection, tools))
    })
    .await;
    let (connection, tools) = match opened {
        Err(_) => return format!("it did not start within {} s", START_TIMEOUT.as_secs()),
        Ok(Err(why)) => return why,
        Ok(Ok(opened)) => opened,
    };
    let peer = connection.peer().clone();
    tracing::info!(mcp = %config.name, tools = tools.len(), "MCP server is ready");
    state.send_replace(State {
        status: ToolSourceStatus::Ready,
        reason: None,
        tools: Arc::new(tools),
        peer: Some(peer.clone()),
    });
    let guard = connection.cancellation_token();
    let mut ended = tokio::spawn(connection.waiting());
    // Dropping this future (the runtime stops) stops the server.
    let _stop = StopOnDrop(Some(guard));
    loop {
        tokio::select! {
            quit = &mut ended => return match quit {
                Ok(Ok(QuitReason::Closed)) => "the server closed its connection".to_owned(),
                Ok(Ok(_)) => "the server stopped".to_owned(),
                Ok(Err(_)) | Err(_) => "the connection to the server failed".to_owned(),
            },
            Some(()) = changed.recv() => {
                match list(&peer, &secrets).await {
                    Ok(tools) => {
                        tracing::info!(mcp = %config.name, tools = tools.len(), "MCP server's tools changed");
                        state.send_modify(|s| s.tools = Arc::new(tools));
                    }
                    Err(why) => tracing::warn!(mcp = %config.name, "cannot list the MCP server's tools: {why}"),
                }
            }
        }
    }
}

/// Cancels the connection's service when dropped: its transport closes,
/// which ends a child process (and [`KillOnDrop`](process_wrap) kills it).
struct StopOnDrop(Option<rmcp::service::RunningServiceCancellationToken>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

/// The server's tools, as yoi describes them.
async fn list(peer: &Peer<RoleClient>, secrets: &[String]) -> Result<Vec<ToolDef>, String> {
    let tools = peer.list_all_tools().await.map_err(|e| {
        format!(
            "listing its tools failed: {}",
            scrub(&e.to_string(), secrets)
        )
    })?;
    Ok(tools.into_iter().filter_map(tool_def).collect())
}

/// A tool of the server; one whose name yoi cannot offer is left out.
fn tool_def(tool: Tool) -> Option<ToolDef> {
    let name = tool.name.to_string();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        tracing::warn!(
            tool = %name.chars().take(64).collect::<String>(),
            "an MCP tool whose name is not a-z A-Z 0-9 _ - (at most 64) is not offered"
        );
        return None;
    }
    // A server that does not say its tool only reads is taken to change
    // something, as the tool boundary asks.
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false);
    Some(ToolDef {
        name,
        description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
        input_schema: serde_json::Value::Object((*tool.input_schema).clone()),
        may_change: !read_only,
    })
}
