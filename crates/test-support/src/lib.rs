//! A mock OpenAI-compatible chat-completions server for yoi's tests.
//!
//! Every crate's tests use it as a dev-dependency, and end-to-end tests run it as the
//! `yoi-mock-openai` binary. It speaks the wire format of the real API:
//! `POST /v1/chat/completions` answers with server-sent events when the request says
//! `"stream": true` (a role chunk, optional `reasoning_content` chunks, content
//! chunks, a finish chunk, a usage chunk when `stream_options.include_usage` is set,
//! then `data: [DONE]`), with a `chat.completion` object otherwise, and with OpenAI's
//! error envelope on errors. `GET /v1/models` lists the models; other routes are 404.
//!
//! The parts:
//!
//! - [`MockOpenAi`] (`server.rs`) owns the listener and the state a test inspects: a
//!   FIFO queue of [`Reply`]s, an optional default reply, every [`RecordedRequest`],
//!   and the number of streams still open. Waiting helpers use `tokio::sync::watch`,
//!   never polling sleeps.
//! - [`Reply`] (`reply.rs`) describes one answer: tokens, reasoning, delays, an HTTP
//!   error, a hang, a stream that is cut or ends without `[DONE]`, or a line (of a
//!   stream or an error body) that never ends.
//! - `respond.rs` turns a reply into a response; `body.rs` plays streamed bodies step
//!   by step and kills the connection for a cut; `wire.rs` holds the JSON shapes.
//! - [`event_socket`]: a WebSocket client for tests of the event sockets, which
//!   records every frame so a test can check that nothing leaked.
//! - `directive.rs`: when nothing is queued and no default is set, the mock echoes
//!   `"You said: <last user message>"`, and `[[...]]` directives in that message
//!   script the answer, for tests that cannot call [`MockOpenAi::push`]:
//!
//! | directive | effect |
//! | --- | --- |
//! | `[[slow]]` | 40 tokens, 300 ms apart |
//! | `[[slow:MS]]` | the same with MS ms between tokens |
//! | `[[tokens:N]]` | N tokens `tok1 tok2 ... tokN` |
//! | `[[error:STATUS]]` | HTTP STATUS with OpenAI error JSON, message `mock error STATUS` |
//! | `[[hang]]` | 200 and SSE headers, then nothing |
//! | `[[cut:N]]` | N content chunks, then the connection is dropped |
//! | `[[reasoning]]` | a few `reasoning_content` chunks before the content |
//! | `[[markdown]]` | a heading, a list, a fenced `rust` block and an inline `<script>` |
//! | `[[long-line:BYTES]]` | one SSE line of BYTES bytes with no newline, then nothing |
//! | `[[usage:P:C]]` | report P prompt and C completion tokens (`max` is `u64::MAX`) |
//! | `[[tool:NAME ARGS]]` | a tool call of NAME (`yoi.list_workers`, matched to the request's `tools`) with the JSON ARGS, streamed in fragments; several make several calls in one turn; the rest of the message is the turn's text |
//! | `[[tool_rounds:N]]` | the same calls in N turns in a row (default 1); after them the answer is `[call_id] result` for each result of the last turn |
//!
//! ```no_run
//! # async fn demo() {
//! use yoi_test_support::{MockOpenAi, Reply};
//!
//! let mock = MockOpenAi::start().await;
//! mock.push(Reply::text("Hello there").usage(12, 2));
//! // point the client under test at mock.base_url() ...
//! let requests = mock.wait_for_requests(1).await;
//! assert_eq!(requests[0].messages().last().unwrap().0, "user");
//! # }
//! ```

mod body;
pub mod directive;
pub mod event_socket;
mod reply;
mod request;
mod respond;
mod server;
mod wire;

pub use event_socket::{Ending, EventSocket, Pace};
pub use reply::{ApiError, MockToolCall, Reply, Usage};
pub use request::RecordedRequest;
pub use server::{MockError, MockOpenAi, DEFAULT_MODEL};

/// The `yoi-mock-mcp` binary (a small MCP server, `src/bin/yoi-mock-mcp.rs`)
/// beside the test executable that asks: `cargo test --workspace` builds it,
/// and `cargo build -p yoi-test-support --bin yoi-mock-mcp` does alone.
///
/// # Panics
/// When it is not built: the test cannot run without it.
pub fn mock_mcp_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test> -> target/debug/yoi-mock-mcp
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let bin = dir.join("yoi-mock-mcp");
    assert!(
        bin.is_file(),
        "yoi-mock-mcp is not built at {}: run `cargo build -p yoi-test-support --bin yoi-mock-mcp` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}
