//! What a provider controls cannot break a Worker: token counts of any size
//! add up without overflow, and an answer line without an end fails the run
//! at once with a clear error. The real Runtime and Worker actors against
//! the mock OpenAI-compatible server.

// Tests may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use worker_runtime::{Runtime, RuntimeApi, RuntimeConfig};
use yoi_protocol::{CreateWorker, ErrorCode, InputRequest, RuntimeId, ToApiError, WorkerId};
use yoi_test_support::{MockOpenAi, Reply};

/// Only fails a test that would otherwise hang.
const WAIT: Duration = Duration::from_secs(30);

async fn start(mock: &MockOpenAi) -> (Runtime, WorkerId) {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    let runtime = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .expect("runtime starts");
    let worker = runtime
        .create_worker(CreateWorker::default())
        .await
        .expect("worker created");
    (runtime, worker.summary.worker_id)
}

#[tokio::test]
async fn token_counts_of_u64_max_saturate_the_workers_totals() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("one").usage(u64::MAX, u64::MAX));
    mock.push(Reply::text("two").usage(u64::MAX, 5));
    let (rt, w) = start(&mock).await;
    for (text, completion) in [("first", u64::MAX), ("second", 5)] {
        let outcome = tokio::time::timeout(WAIT, rt.input_wait(w, InputRequest::text(text)))
            .await
            .expect("the run ends with its terminal event")
            .unwrap();
        assert_eq!(outcome.usage.prompt_tokens, u64::MAX);
        assert_eq!(outcome.usage.completion_tokens, completion);
    }
    let usage = rt.worker(w).await.unwrap().usage;
    assert_eq!(usage.runs, 2);
    assert_eq!(usage.prompt_tokens, u64::MAX);
    assert_eq!(usage.completion_tokens, u64::MAX);
}

#[tokio::test]
async fn an_answer_line_without_an_end_fails_the_run_with_a_clear_error() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::long_line(10 * 1024 * 1024));
    let (rt, w) = start(&mock).await;
    let error = tokio::time::timeout(WAIT, rt.input_wait(w, InputRequest::text("hi")))
        .await
        .expect("the run fails without waiting for its timeout")
        .unwrap_err()
        .to_api_error();
    assert_eq!(error.code, ErrorCode::ProviderError);
    assert!(error.message.contains("longer than"), "{}", error.message);
}
