//! A runtime process that misbehaves (a faulty one, or a tampered link):
//! a stand-in HTTP server in its place answers 100 MB bodies and never
//! answers `input?wait`, and a raw one sends a 20 MiB event message. The
//! backend reads at most its cap of an answer or message, bounds the wait
//! with the contract's `timeout`, and ends an event stream it cannot read
//! rather than fetch the same message again and again.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_LENGTH;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use runtime_registry::remote::transport::MAX_RUNTIME_ANSWER;
use runtime_registry::{Endpoint, RemoteConfig, RemoteRuntime};
use support::{quick, TOKEN, WAIT};
use worker_runtime::RuntimeApi;
use yoi_protocol::{ErrorCode, InputRequest, RuntimeId, RuntimeKind, ToApiError, WorkerId};

const HUGE: usize = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A body of `HUGE` bytes made as it is read; `sent` counts what was made.
fn huge_body(sent: Arc<AtomicUsize>) -> Body {
    let chunks = futures::stream::iter(0..HUGE / CHUNK).map(move |_| {
        sent.fetch_add(CHUNK, Ordering::Relaxed);
        Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; CHUNK]))
    });
    Body::from_stream(chunks)
}

/// The stand-in: `/v1/runtime` declares 100 MB, `/v1/workers` streams 100 MB
/// without declaring it, and `input?wait=true` never answers.
async fn stand_in(sent: Arc<AtomicUsize>) -> String {
    let app = Router::new()
        .route(
            "/v1/runtime",
            get(|| async {
                Response::builder()
                    .header(CONTENT_LENGTH, HUGE)
                    .body(huge_body(Arc::new(AtomicUsize::new(0))))
                    .unwrap()
            }),
        )
        .route(
            "/v1/workers",
            get(move || {
                let sent = sent.clone();
                async move { Response::new(huge_body(sent)) }
            }),
        )
        .route(
            "/v1/workers/{worker_id}/input",
            post(std::future::pending::<Response>),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn remote(url: &str, wait_timeout: Duration) -> RemoteRuntime {
    RemoteRuntime::start(RemoteConfig {
        runtime_id: RuntimeId::parse("hostile").unwrap(),
        display_name: "hostile box".into(),
        kind: RuntimeKind::Remote,
        endpoint: Endpoint::Tcp {
            url: url.parse().unwrap(),
            token: Some(TOKEN.into()),
            ca: None,
        },
        timing: runtime_registry::Timing {
            wait_timeout,
            ..quick()
        },
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_100_mb_answer_is_cut_at_the_cap() {
    let sent = Arc::new(AtomicUsize::new(0));
    let url = stand_in(sent.clone()).await;
    let runtime = remote(&url, Duration::from_secs(60)).await;
    let err = tokio::time::timeout(WAIT, runtime.list_workers(Default::default()))
        .await
        .expect("the answer is given up on")
        .unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::RuntimeUnavailable);
    // The reason, shown to clients, says why (the probes got it too).
    let summary = runtime.summary().await.unwrap();
    let last_error = summary.diagnostics.and_then(|d| d.last_error);
    assert_eq!(last_error.as_deref(), Some("answer too large"));
    // The stand-in got to make only the cap and what the sockets buffer.
    let made = sent.load(Ordering::Relaxed);
    assert!(
        made < MAX_RUNTIME_ANSWER + 16 * 1024 * 1024,
        "{made} bytes were read"
    );
}

#[tokio::test]
async fn a_wait_that_never_ends_answers_timeout() {
    let url = stand_in(Arc::new(AtomicUsize::new(0))).await;
    let runtime = remote(&url, Duration::from_millis(300)).await;
    let input: InputRequest = serde_json::from_value(serde_json::json!({"text": "hi"})).unwrap();
    let err = tokio::time::timeout(WAIT, runtime.input_wait(WorkerId::new(), input))
        .await
        .expect("the wait is bounded")
        .unwrap_err();
    let err = err.to_api_error();
    assert_eq!(err.code, ErrorCode::Timeout, "{err:?}");
    assert!(err.retryable);
}

/// A raw stand-in for a runtime's event socket: every upgrade to a worker's
/// events gets one 20 MiB text message in two 10 MiB frames (each frame
/// under the library's default frame limit). `opened` counts those sockets.
async fn oversized_events(opened: Arc<AtomicUsize>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let opened = opened.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let key = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("sec-websocket-key:")
                        .then(|| l[18..].trim().to_owned())
                });
                let (Some(key), true) = (key, head.contains("/events")) else {
                    let _ = tcp
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let accept =
                    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                let half = vec![b'z'; 10 * 1024 * 1024];
                let mut out = answer.into_bytes();
                for first in [0x01u8, 0x80] {
                    out.extend_from_slice(&[first, 127]);
                    out.extend_from_slice(&(half.len() as u64).to_be_bytes());
                    out.extend_from_slice(&half);
                }
                let _ = tcp.write_all(&out).await;
                // Hold the socket open, as a runtime would.
                let mut sink = [0u8; 1024];
                while tcp.read(&mut sink).await.unwrap_or(0) > 0 {}
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_event_message_past_the_cap_ends_the_stream_without_resuming() {
    let opened = Arc::new(AtomicUsize::new(0));
    let url = oversized_events(opened.clone()).await;
    let runtime = remote(&url, Duration::from_secs(60)).await;
    let mut stream = runtime.subscribe(WorkerId::new(), None).await.unwrap();
    let next = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream ends rather than wait on a broken runtime");
    assert!(next.is_none(), "a frame came through");
    assert_eq!(opened.load(Ordering::Relaxed), 1, "the stream resumed");
}
