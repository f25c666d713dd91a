//! A runtime process that misbehaves (a faulty one, or a tampered link):
//! a stand-in HTTP server in its place answers 100 MB bodies and never
//! answers `input?wait`. The backend reads at most its cap of an answer and
//! bounds the wait with the contract's `timeout`.

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
