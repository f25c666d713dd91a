//! `YOI_THREADS`: how many threads run a server's event loop (one unless
//! asked); a bad value stops `yoi serve` naming the variable.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::{provider_env, Backend, Proc, TempDir};
use yoi_test_support::MockOpenAi;

/// `yoi_event_loop_threads` from the backend's `/metrics`.
async fn event_loop_threads(b: &Backend) -> String {
    let text = b
        .http
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("yoi_event_loop_threads "))
        .expect("the gauge is exported")
        .to_owned()
}

/// Whether a run answers, on the backend's runtime and on a local one.
async fn answers(b: &Backend) {
    b.wait_runtime("near", "available").await;
    for runtime in ["backend-internal", "near"] {
        let path = b.create_worker(runtime).await;
        let (status, body) = b
            .post(
                &format!("{path}/input?wait=true"),
                json!({"text": "hello there"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["message"]["text"]
            .as_str()
            .unwrap()
            .contains("hello there"));
    }
}

#[tokio::test]
async fn yoi_serve_runs_one_event_loop_thread_unless_asked_and_answers_either_way() {
    let mock = MockOpenAi::start().await;
    let runtimes = "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n";
    let one = Backend::start(&mock.base_url(), runtimes, &[]).await;
    assert_eq!(event_loop_threads(&one).await, "1");
    answers(&one).await;
    let four = Backend::start(&mock.base_url(), runtimes, &[("YOI_THREADS", "4".into())]).await;
    assert_eq!(event_loop_threads(&four).await, "4");
    answers(&four).await;
}

#[tokio::test]
async fn a_bad_yoi_threads_stops_yoi_serve_naming_the_variable() {
    for bad in ["0", "257", "many", "-1", "1.5"] {
        let dir = TempDir::new("threads");
        let mut env = provider_env("http://127.0.0.1:9/v1");
        env.push(("YOI_THREADS", bad.to_owned()));
        let mut proc = Proc::spawn(&["serve", "--bind", "127.0.0.1:0"], dir.path(), &env);
        assert_ne!(proc.exit_code().await, Some(0), "YOI_THREADS={bad}");
        let output = proc.wait_for_output("YOI_THREADS must be").await;
        assert!(output.contains("from 1 to 256"), "{output}");
        assert!(output.contains(&format!("{bad:?}")), "{output}");
    }
}
