//! The `yoi` tools: operations of the workspace itself, read-mostly. No
//! filesystem, shell, git or network.
//!
//! - `yoi.list_workers`: the workers (names, refs, profiles, statuses, last
//!   activity), a page at a time;
//! - `yoi.read_transcript`: the last messages of another worker;
//! - `yoi.ask_worker`: a message to another worker, answered by a normal
//!   run of that worker (queued if it is busy), shown in its transcript with
//!   the asking worker as sender. A chain of asks that would wait on itself
//!   is refused, and chains are at most [`MAX_ASK_DEPTH`] deep.
//!
//! They act through [`WorkspaceOps`], which the runtime that hosts the
//! worker provides.

use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use serde_json::json;
use yoi_protocol::{RunOutcome, Transcript, WorkerId, WorkerList, WorkerPage, WorkerSummary};

use yoi_protocol::ToApiError;

use super::{CallContext, ToolDef, ToolFailure, ToolOutput, ToolSource};
use crate::error::RuntimeError;
use crate::worker::core::tool_loop::{AskOrigin, MAX_ASK_DEPTH};

/// The source's name.
pub const SOURCE: &str = "yoi";
/// Most workers one `list_workers` call returns.
const MAX_LIST: u64 = 100;
/// Most messages one `read_transcript` call returns.
const MAX_READ: u64 = 50;
/// Most bytes of one message's text that `read_transcript` returns.
const MAX_READ_TEXT: usize = 4096;

/// What the `yoi` tools may do, given by the runtime that hosts the worker.
#[async_trait::async_trait]
pub trait WorkspaceOps: Send + Sync + 'static {
    async fn list_workers(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError>;
    async fn read_transcript(
        &self,
        worker_id: WorkerId,
        limit: usize,
    ) -> Result<Transcript, RuntimeError>;
    /// Sends `text` to the worker as `origin` and waits for the run's end.
    async fn ask(
        &self,
        worker_id: WorkerId,
        text: String,
        origin: AskOrigin,
    ) -> Result<RunOutcome, RuntimeError>;
}

/// The `yoi` source. Its operations are set once the runtime runs.
#[derive(Default, Clone)]
pub struct YoiTools {
    ops: Arc<OnceLock<Arc<dyn WorkspaceOps>>>,
}

impl YoiTools {
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects the tools to their runtime (once; later calls are ignored).
    pub fn connect(&self, ops: Arc<dyn WorkspaceOps>) {
        let _ = self.ops.set(ops);
    }

    fn ops(&self) -> Result<Arc<dyn WorkspaceOps>, ToolFailure> {
        self.ops
            .get()
            .cloned()
            .ok_or_else(|| ToolFailure::Unavailable("the runtime is starting".to_owned()))
    }
}

fn worker_argument() -> serde_json::Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "The worker: its name, its ref (name@runtime) or its id"
    })
}

impl ToolSource for YoiTools {
    fn name(&self) -> &str {
        SOURCE
    }

    fn kind(&self) -> yoi_protocol::ToolSourceKind {
        yoi_protocol::ToolSourceKind::Yoi
    }

    fn tools(&self) -> Vec<ToolDef> {
        vec![
            ToolDef {
                name: "list_workers".to_owned(),
                description: "List the workers of this workspace: name, ref, id, profile, status and last activity. Paged: pass `after` (the `next_after` of the previous page) for more.".to_owned(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "description": "At most this many (default 50)"},
                        "after": {"type": "string", "description": "Only workers after this worker id"}
                    },
                    "additionalProperties": false
                }),
                may_change: false,
            },
            ToolDef {
                name: "read_transcript".to_owned(),
                description: "Read the last messages of another worker of this workspace.".to_owned(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "worker": worker_argument(),
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_READ, "description": "At most this many messages, the newest (default 20)"}
                    },
                    "required": ["worker"],
                    "additionalProperties": false
                }),
                may_change: false,
            },
            ToolDef {
                name: "ask_worker".to_owned(),
                description: "Send a message to another worker of this workspace and wait for its answer. The message shows in that worker's conversation with you as its sender.".to_owned(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "worker": worker_argument(),
                        "text": {"type": "string", "minLength": 1, "maxLength": 32768, "description": "What to ask"}
                    },
                    "required": ["worker", "text"],
                    "additionalProperties": false
                }),
                may_change: true,
            },
        ]
    }

    fn call(
        &self,
        tool: &str,
        arguments: serde_json::Value,
        context: CallContext,
    ) -> BoxFuture<'static, Result<ToolOutput, ToolFailure>> {
        let ops = self.ops();
        let tool = tool.to_owned();
        Box::pin(async move {
            let ops = ops?;
            match tool.as_str() {
                "list_workers" => list_workers(ops.as_ref(), &arguments).await,
                "read_transcript" => read_transcript(ops.as_ref(), &arguments).await,
                "ask_worker" => ask_worker(ops.as_ref(), &arguments, context).await,
                other => Err(ToolFailure::BadArguments(format!("no tool `{other}`"))),
            }
        })
    }
}

fn failed(e: RuntimeError) -> ToolFailure {
    ToolFailure::Failed(e.to_api_error().message)
}

fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn worker_json(w: &WorkerSummary) -> serde_json::Value {
    json!({
        "name": w.display_name,
        "ref": w.display_ref,
        "worker_id": w.worker_id,
        "profile": w.profile.name,
        "status": w.status,
        "last_activity": w.last_activity,
    })
}

async fn list_workers(
    ops: &dyn WorkspaceOps,
    arguments: &serde_json::Value,
) -> Result<ToolOutput, ToolFailure> {
    let limit = arguments["limit"].as_u64().unwrap_or(50).clamp(1, MAX_LIST);
    let after = match arguments["after"].as_str() {
        Some(text) => Some(text.parse::<WorkerId>().map_err(|_| {
            ToolFailure::BadArguments(format!("`after` is not a worker id: {text}"))
        })?),
        None => None,
    };
    let page = WorkerPage {
        limit: usize::try_from(limit).ok(),
        after,
        ..WorkerPage::default()
    };
    let list = ops.list_workers(page).await.map_err(failed)?;
    let count = list.workers.len();
    let text = json_text(&json!({
        "workers": list.workers.iter().map(worker_json).collect::<Vec<_>>(),
        "next_after": list.next_after,
    }));
    Ok(ToolOutput {
        text,
        summary: Some(format!("{count} workers")),
    })
}

/// The worker a name, ref or id names; an error says why not.
async fn resolve(ops: &dyn WorkspaceOps, name: &str) -> Result<WorkerSummary, ToolFailure> {
    let all = ops.list_workers(WorkerPage::all()).await.map_err(failed)?;
    if let Ok(id) = name.parse::<WorkerId>() {
        if let Some(w) = all.workers.iter().find(|w| w.worker_id == id) {
            return Ok(w.clone());
        }
    }
    let by_ref: Vec<&WorkerSummary> = all
        .workers
        .iter()
        .filter(|w| w.display_ref == name)
        .collect();
    if let [one] = by_ref.as_slice() {
        return Ok((*one).clone());
    }
    let by_name: Vec<&WorkerSummary> = all
        .workers
        .iter()
        .filter(|w| w.display_name == name)
        .collect();
    match by_name.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ToolFailure::BadArguments(format!(
            "no worker named `{name}`; yoi.list_workers lists them"
        ))),
        many => Err(ToolFailure::BadArguments(format!(
            "{} workers are named `{name}`; name one by its id: {}",
            many.len(),
            many.iter()
                .map(|w| w.worker_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn read_transcript(
    ops: &dyn WorkspaceOps,
    arguments: &serde_json::Value,
) -> Result<ToolOutput, ToolFailure> {
    let name = arguments["worker"].as_str().unwrap_or_default();
    let limit = arguments["limit"].as_u64().unwrap_or(20).clamp(1, MAX_READ);
    let worker = resolve(ops, name).await?;
    let transcript = ops
        .read_transcript(worker.worker_id, usize::try_from(limit).unwrap_or(20))
        .await
        .map_err(failed)?;
    let count = transcript.messages.len();
    let messages: Vec<serde_json::Value> = transcript
        .messages
        .iter()
        .map(|m| {
            let mut entry = json!({
                "role": m.role,
                "at": m.at,
                "text": yoi_protocol::bound_text(&m.text, MAX_READ_TEXT),
            });
            if let Some(sender) = &m.sender {
                entry["sender"] = json!(sender);
            }
            entry
        })
        .collect();
    Ok(ToolOutput {
        text: json_text(&json!({"worker": worker.display_ref, "messages": messages})),
        summary: Some(format!("{count} messages of {}", worker.display_ref)),
    })
}

async fn ask_worker(
    ops: &dyn WorkspaceOps,
    arguments: &serde_json::Value,
    context: CallContext,
) -> Result<ToolOutput, ToolFailure> {
    let name = arguments["worker"].as_str().unwrap_or_default();
    let text = arguments["text"].as_str().unwrap_or_default().to_owned();
    let target = resolve(ops, name).await?;
    let mut chain = context.ask_chain.clone();
    chain.push(context.worker_id);
    if chain.contains(&target.worker_id) {
        return Err(ToolFailure::Failed(format!(
            "refused: {} would wait on itself (the chain of asks is {}); answer without asking it",
            target.display_ref,
            describe_chain(ops, &chain, target.worker_id).await
        )));
    }
    if chain.len() > MAX_ASK_DEPTH {
        return Err(ToolFailure::Failed(format!(
            "refused: a chain of asks may be at most {MAX_ASK_DEPTH} deep (this one is {}); answer without asking further",
            describe_chain(ops, &chain, target.worker_id).await
        )));
    }
    let origin = AskOrigin {
        sender: context.display_ref.clone(),
        chain,
    };
    let outcome = ops
        .ask(target.worker_id, text, origin)
        .await
        .map_err(failed)?;
    Ok(ToolOutput {
        text: outcome.message.text,
        summary: Some(format!("{} answered", target.display_ref)),
    })
}

/// `a@rt -> b@rt -> a@rt`, with ids where a worker is gone.
async fn describe_chain(ops: &dyn WorkspaceOps, chain: &[WorkerId], next: WorkerId) -> String {
    let all = ops
        .list_workers(WorkerPage::all())
        .await
        .map(|l| l.workers)
        .unwrap_or_default();
    chain
        .iter()
        .chain(std::iter::once(&next))
        .map(|id| {
            all.iter()
                .find(|w| w.worker_id == *id)
                .map_or_else(|| id.to_string(), |w| w.display_ref.clone())
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}
