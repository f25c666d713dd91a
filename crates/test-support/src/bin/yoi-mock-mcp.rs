//! `yoi-mock-mcp`: a small MCP server for tests, on rmcp's server side,
//! over stdio (`--stdio`) or streamable HTTP (`--http ADDR`, printing
//! `listening on ADDR` once it listens).
//!
//! Tools: `echo {text}`, `add {a, b}`, `sleep {ms}` (answers after `ms`
//! unless cancelled), `fail` (the tool's own error), `big {bytes}` (that
//! many `x`), `change_list` (adds or removes the tool `extra` and sends
//! `notifications/tools/list_changed`), `env {name}` (`set` or `unset`: is
//! that variable in its environment), `die` (exits mid-call, code 3).
//!
//! `--token TOKEN` (with `--http`) answers 401 to a request without
//! `Authorization: Bearer TOKEN`.
//!
//! `--record FILE` appends one line per thing that reached it, so a test
//! can see what the server saw: `start <pid>`, `call <tool> <arguments>`,
//! `cancel`, `list`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ContentBlock, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;

#[derive(Parser)]
#[command(name = "yoi-mock-mcp", about = "A small MCP server for yoi's tests")]
struct Cli {
    /// Speak MCP on stdin and stdout.
    #[arg(long, conflicts_with = "http")]
    stdio: bool,
    /// Serve streamable HTTP at this address (path /mcp).
    #[arg(long)]
    http: Option<String>,
    /// Append what reaches the server to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// With --http: answer 401 unless `Authorization: Bearer TOKEN`.
    #[arg(long, requires = "http")]
    token: Option<String>,
}

#[derive(Clone)]
struct Mock {
    record: Option<Arc<Mutex<std::fs::File>>>,
    extra: Arc<AtomicBool>,
}

impl Mock {
    fn note(&self, line: &str) {
        if let Some(file) = &self.record {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{line}");
            let _ = file.flush();
        }
    }

    fn tools(&self) -> Vec<Tool> {
        let object = |props: serde_json::Value, required: &[&str]| {
            let schema = json!({"type": "object", "properties": props, "required": required});
            match schema {
                serde_json::Value::Object(map) => Arc::new(map),
                _ => Arc::new(serde_json::Map::new()),
            }
        };
        let mut tools = vec![
            Tool::new(
                "echo",
                "Answers with its text",
                object(json!({"text": {"type": "string"}}), &["text"]),
            ),
            Tool::new(
                "add",
                "Adds two numbers",
                object(
                    json!({"a": {"type": "number"}, "b": {"type": "number"}}),
                    &["a", "b"],
                ),
            ),
            Tool::new(
                "sleep",
                "Answers after ms milliseconds",
                object(json!({"ms": {"type": "integer"}}), &["ms"]),
            ),
            Tool::new("fail", "Always fails", object(json!({}), &[])),
            Tool::new(
                "big",
                "Answers with that many bytes",
                object(json!({"bytes": {"type": "integer"}}), &["bytes"]),
            ),
            Tool::new(
                "change_list",
                "Adds or removes the tool extra",
                object(json!({}), &[]),
            ),
            Tool::new(
                "env",
                "Whether a variable is set in the server's environment",
                object(json!({"name": {"type": "string"}}), &["name"]),
            ),
            Tool::new(
                "die",
                "Exits in the middle of the call",
                object(json!({}), &[]),
            ),
        ];
        if self.extra.load(Ordering::SeqCst) {
            tools.push(Tool::new(
                "extra",
                "Appears after change_list",
                object(json!({}), &[]),
            ));
        }
        tools
    }
}

fn text(t: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(t)]).into())
}

impl ServerHandler for Mock {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.note("list");
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        self.note(&format!(
            "call {} {}",
            request.name,
            serde_json::Value::Object(args.clone())
        ));
        match request.name.as_ref() {
            "echo" => text(
                args.get("text")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default(),
            ),
            "add" => {
                let n = |k: &str| {
                    args.get(k)
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(0.0)
                };
                text(format!("{}", n("a") + n("b")))
            }
            "sleep" => {
                let ms = args
                    .get("ms")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => text("slept"),
                    () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled", None)),
                }
            }
            "fail" => {
                Ok(CallToolResult::error(vec![ContentBlock::text("it failed on purpose")]).into())
            }
            "big" => {
                let bytes = args
                    .get("bytes")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                text("x".repeat(usize::try_from(bytes).unwrap_or(0)))
            }
            "change_list" => {
                self.extra.fetch_xor(true, Ordering::SeqCst);
                let _ = context.peer.notify_tool_list_changed().await;
                text("changed")
            }
            "env" => {
                let name = args
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                text(if std::env::var_os(name).is_some() {
                    "set"
                } else {
                    "unset"
                })
            }
            "die" => std::process::exit(3),
            "extra" => text("extra"),
            other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        }
    }

    async fn on_cancelled(
        &self,
        _notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.note("cancel");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let record = cli.record.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(|f| Arc::new(Mutex::new(f)))
    });
    let mock = Mock {
        record,
        extra: Arc::new(AtomicBool::new(false)),
    };
    mock.note(&format!("start {}", std::process::id()));
    if let Some(addr) = cli.http {
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("yoi-mock-mcp: cannot listen on {addr}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().map_or(addr, |a| a.to_string());
        let service: StreamableHttpService<Mock, LocalSessionManager> = StreamableHttpService::new(
            move || Ok(mock.clone()),
            Arc::default(),
            StreamableHttpServerConfig::default(),
        );
        let mut router = axum::Router::new().nest_service("/mcp", service);
        if let Some(token) = cli.token {
            let expected = format!("Bearer {token}");
            router = router.layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let allowed = request
                        .headers()
                        .get(axum::http::header::AUTHORIZATION)
                        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                    async move {
                        if allowed {
                            next.run(request).await
                        } else {
                            axum::response::IntoResponse::into_response(
                                axum::http::StatusCode::UNAUTHORIZED,
                            )
                        }
                    }
                },
            ));
        }
        println!("listening on {local}");
        let _ = axum::serve(listener, router).await;
        return std::process::ExitCode::SUCCESS;
    }
    if !cli.stdio {
        eprintln!("yoi-mock-mcp: give --stdio or --http ADDR");
        return std::process::ExitCode::from(2);
    }
    eprintln!("yoi-mock-mcp: serving on stdio");
    match mock.serve(rmcp::transport::stdio()).await {
        Ok(running) => {
            let _ = running.waiting().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("yoi-mock-mcp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
