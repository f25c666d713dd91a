//! Opening one connection to a server: a child process on stdio (its own
//! process group, killed when dropped, an allowlisted environment, stderr
//! to the log) or a streamable HTTP client; then the MCP handshake.

use std::process::Stdio;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::config::{McpServerConfig, Transport};

/// Longest stderr line logged (longer ones are cut).
const STDERR_LINE: usize = 1024;
/// Most stderr lines logged per start of a server; the rest are counted.
const STDERR_LINES: usize = 1000;

/// Why a connection could not be made, in words for people (no command
/// line, environment, URL or token).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("its command could not be started: {0}")]
    Spawn(String),
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
}

/// What the runtime's client answers to the server, and where a
/// `notifications/tools/list_changed` goes.
#[derive(Clone)]
pub(crate) struct Client {
    /// Bounded to one: a change already signalled covers any later one.
    pub(crate) changed: mpsc::Sender<()>,
}

impl ClientHandler for Client {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changed.try_send(());
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("yoi", env!("CARGO_PKG_VERSION")),
        )
    }
}

pub(crate) type Connection = RunningService<RoleClient, Client>;

/// Opens a connection and shakes hands.
pub(crate) async fn connect(
    config: &McpServerConfig,
    client: Client,
) -> Result<Connection, ConnectError> {
    match &config.transport {
        Transport::Stdio {
            program,
            args,
            env,
            workdir,
        } => {
            let mut command = CommandWrap::with_new(program, |cmd| {
                cmd.args(args)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (k, v)));
                if let Some(dir) = workdir {
                    cmd.current_dir(dir);
                }
            });
            // Its own process group, so that stopping it stops what it
            // started too; killed when dropped, whatever ends the runtime.
            command.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
            let (child, stderr) = TokioChildProcess::builder(command)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| ConnectError::Spawn(io_reason(&e)))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(config.name.clone(), stderr));
            }
            client
                .serve(child)
                .await
                .map_err(|e| ConnectError::Handshake(handshake_reason(&e.to_string())))
        }
        Transport::Http { url, bearer_token } => {
            let mut http = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            if let Some(token) = bearer_token {
                http = http.auth_header(token.clone());
            }
            let transport = StreamableHttpClientTransport::from_config(http);
            client
                .serve(transport)
                .await
                .map_err(|e| ConnectError::Handshake(handshake_reason(&e.to_string())))
        }
    }
}

/// Why a handshake failed, in a few words: the SDK's message names its
/// own types and may quote the URL, so it is read, not passed on.
fn handshake_reason(text: &str) -> String {
    if let Some(at) = text.find("HTTP ") {
        let code: String = text[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if code.len() == 3 {
            return match code.as_str() {
                "401" | "403" => format!("the server refused the token (HTTP {code})"),
                _ => format!("the server answered HTTP {code}"),
            };
        }
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("error sending request") || lower.contains("connection refused") {
        return "cannot connect to the server".to_owned();
    }
    if lower.contains("connection closed") || lower.contains("transport closed") {
        return "the server closed the connection before it answered".to_owned();
    }
    if lower.contains("protocol version") {
        return "the server speaks no MCP version yoi does".to_owned();
    }
    "the server did not answer as an MCP server".to_owned()
}

/// An OS error by its kind, without the path the OS may add.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "the program was not found".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        kind => kind.to_string(),
    }
}

/// The server's stderr, a line at a time, to the log at debug level:
/// each line bounded, and at most [`STDERR_LINES`] lines per start.
async fn log_stderr(name: String, stderr: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut logged = 0usize;
    let mut dropped = 0usize;
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if logged < STDERR_LINES {
            logged += 1;
            let text = String::from_utf8_lossy(&line);
            tracing::debug!(mcp = %name, "stderr: {}", text.trim_end());
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        tracing::debug!(mcp = %name, dropped, "stderr lines not logged");
    }
}

/// Reads one line, keeping at most [`STDERR_LINE`] bytes of it (the rest
/// is read and dropped). Returns the bytes read, 0 at the end.
async fn read_bounded_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = STDERR_LINE.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_failures_are_told_in_a_few_words() {
        let sdk = "Send message error Transport [rmcp::transport::worker::WorkerTransport<...>] error: unexpected server response: HTTP 401 Unauthorized: , when send initialize request";
        assert_eq!(
            handshake_reason(sdk),
            "the server refused the token (HTTP 401)"
        );
        assert_eq!(
            handshake_reason("unexpected server response: HTTP 503 Service Unavailable"),
            "the server answered HTTP 503"
        );
        assert_eq!(
            handshake_reason("connection closed: initialize response"),
            "the server closed the connection before it answered"
        );
        assert!(
            !handshake_reason("error sending request for url (http://secret/)").contains("secret")
        );
    }

    #[tokio::test]
    async fn stderr_lines_are_cut_to_their_bound() {
        let long = format!("{}\nshort\n", "x".repeat(5000));
        let mut reader = BufReader::new(long.as_bytes());
        let mut line = Vec::new();
        assert_eq!(
            read_bounded_line(&mut reader, &mut line).await.unwrap(),
            5001
        );
        assert_eq!(line.len(), STDERR_LINE);
        line.clear();
        read_bounded_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line, b"short\n");
        line.clear();
        assert_eq!(read_bounded_line(&mut reader, &mut line).await.unwrap(), 0);
    }
}
