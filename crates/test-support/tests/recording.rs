//! Reply selection (queue, default, echo), request recording and open-stream counts.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::{chat_body, chunks, content, post, stream};
use serde_json::json;
use yoi_test_support::{MockOpenAi, Reply};

#[tokio::test]
async fn requests_are_recorded_in_order_with_auth_and_path() {
    let mock = MockOpenAi::start().await;

    stream(&mock, "first", false).await;
    post(&mock, &chat_body("second", false, false)).await;

    let requests = mock.wait_for_requests(2).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].body["stream"], true);
    assert_eq!(
        requests[1].messages(),
        vec![
            ("system".to_owned(), "You are a test.".to_owned()),
            ("user".to_owned(), "second".to_owned()),
        ]
    );
}

#[tokio::test]
async fn wait_for_requests_wakes_when_a_request_arrives() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let url = format!("{}/chat/completions", mock.base_url());
    let client = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&chat_body("later", true, false))
            .send()
            .await
    });

    let requests = mock.wait_for_requests(1).await;

    assert_eq!(requests[0].messages()[1].1, "later");
    client.abort();
}

#[tokio::test]
async fn queued_replies_are_taken_in_order_then_the_default_then_echo() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("one"));
    mock.push(Reply::text("two"));

    assert_eq!(content(&chunks(&stream(&mock, "x", false).await)), "one");
    assert_eq!(content(&chunks(&stream(&mock, "x", false).await)), "two");
    assert_eq!(
        content(&chunks(&stream(&mock, "hello mock", false).await)),
        "You said: hello mock"
    );

    mock.set_default(Reply::text("fallback"));
    assert_eq!(
        content(&chunks(&stream(&mock, "x", false).await)),
        "fallback"
    );
    assert_eq!(
        content(&chunks(&stream(&mock, "x", false).await)),
        "fallback"
    );

    mock.clear_default();
    assert_eq!(
        content(&chunks(&stream(&mock, "y", false).await)),
        "You said: y"
    );
}

#[tokio::test]
async fn echo_uses_the_last_user_message() {
    let mock = MockOpenAi::start().await;
    let body = json!({
        "model": "m",
        "stream": true,
        "messages": [
            {"role": "user", "content": "old"},
            {"role": "assistant", "content": "You said: old"},
            {"role": "user", "content": [{"type": "text", "text": "new one"}]},
        ],
    });

    let text = post(&mock, &body).await.text().await.unwrap();

    assert_eq!(
        content(&chunks(&common::data_frames(&text))),
        "You said: new one"
    );
}

#[tokio::test]
async fn open_streams_goes_back_to_zero_when_the_client_drops() {
    let mock = MockOpenAi::start().await;
    mock.push(
        Reply::tokens(["never", "finished"]).token_delay(std::time::Duration::from_secs(3600)),
    );
    mock.push(Reply::hang());
    assert_eq!(mock.open_streams(), 0);

    let mut slow = post(&mock, &chat_body("a", true, false)).await;
    let hung = post(&mock, &chat_body("b", true, false)).await;
    mock.wait_for_open_streams(2).await;
    // The slow stream has sent its role chunk and first token.
    assert!(slow.chunk().await.unwrap().is_some());

    drop(slow);
    mock.wait_for_open_streams(1).await;
    drop(hung);
    mock.wait_for_open_streams(0).await;
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn finished_streams_are_not_counted_as_open() {
    let mock = MockOpenAi::start().await;

    stream(&mock, "hi", false).await;

    mock.wait_for_open_streams(0).await;
}
