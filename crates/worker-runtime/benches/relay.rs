//! How fast a Worker's events reach many subscribers, end to end: the mock
//! OpenAI server streams a long answer as fast as it can, and N subscribers
//! read every frame. Prints events per second and bytes of JSON made per event
//! (made once, whatever N is).
//!
//!     cargo bench -p worker-runtime --bench relay
//!
//! Not a test: nothing here asserts a time.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::time::Instant;

use futures::StreamExt;
use worker_runtime::{Runtime, RuntimeApi, RuntimeConfig};
use yoi_protocol::{CreateWorker, InputRequest, RuntimeId};
use yoi_test_support::{MockOpenAi, Reply};

const TOKENS: usize = 5_000;

#[tokio::main]
async fn main() {
    let mock = MockOpenAi::start().await;
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "bench");
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("bench".into());
    let runtime = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .expect("runtime");
    for subscribers in [1usize, 10, 100] {
        mock.push(Reply::tokens((0..TOKENS).map(|i| format!("token{i} "))));
        let worker = runtime
            .create_worker(CreateWorker::default())
            .await
            .expect("worker")
            .summary
            .worker_id;
        let mut readers = Vec::new();
        for _ in 0..subscribers {
            let mut sub = runtime.subscribe(worker, None).await.expect("subscribe");
            readers.push(tokio::spawn(async move {
                let (mut frames, mut bytes) = (0usize, 0usize);
                while let Some(frame) = sub.next().await {
                    frames += 1;
                    bytes += frame.json.len();
                    if frame.event.is_terminal() {
                        break;
                    }
                }
                (frames, bytes)
            }));
        }
        let started = Instant::now();
        runtime
            .input(
                worker,
                InputRequest {
                    text: "go".into(),
                    client_message_id: None,
                    on_busy: None,
                },
            )
            .await
            .expect("input");
        let mut total = 0usize;
        let mut json = 0usize;
        for r in readers {
            let (frames, bytes) = r.await.expect("reader");
            total += frames;
            json = bytes / frames.max(1);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{subscribers:>4} subscribers: {:>9.0} frames/s delivered, {:>7.0} events/s produced, ~{json} B JSON per frame (serialised once)",
            total as f64 / secs,
            (total / subscribers) as f64 / secs,
        );
        runtime.stop_worker(worker).await.expect("stop");
    }
    runtime.shutdown().await;
}
