//! The real server on a real socket, with a WebSocket client, against the
//! mock OpenAI server.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_gapless, text_of, types, Options, RuntimeLimits, Server, ServerLimits, SocketPolicy,
    API_KEY,
};
use yoi_test_support::Reply;

#[tokio::test]
async fn health_runtimes_and_companion() {
    let s = Server::start().await;
    let (status, health) = s.get("/api/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let (status, list) = s.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let rt = &list["runtimes"][0];
    assert_eq!(rt["runtime_id"], "backend-internal");
    assert_eq!(rt["kind"], "embedded");
    assert_eq!(rt["status"], "available");
    assert_eq!(rt["worker_count"], 1);
    assert_eq!(
        rt["capabilities"],
        json!({"workers": true, "create_worker": true, "cancel": true, "events": true})
    );
    let (status, one) = s.get("/api/runtimes/backend-internal").await;
    assert_eq!(status, 200);
    assert_eq!(&one, rt);

    let (status, c) = s.get("/api/companion").await;
    assert_eq!(status, 200);
    assert_eq!(c["display_ref"], "companion@backend-internal");
    assert_eq!(c["runtime_id"], "backend-internal");
    assert_eq!(c["status"], "idle");
    assert_eq!(
        c["profile"],
        json!({"name": "companion", "model": "mock-model"})
    );
    assert_eq!(
        c["provider"],
        json!({"configured": true, "model": "mock-model"})
    );

    let path = s.companion_path().await;
    let (status, detail) = s.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(detail["tools"], json!([]));
    assert_eq!(
        detail["usage"],
        json!({"runs": 0, "prompt_tokens": 0, "completion_tokens": 0})
    );
    assert!(detail["created_at"].as_str().unwrap().ends_with('Z'));
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_whole_conversation_streams_over_the_socket() {
    let s = Server::start().await;
    s.mock
        .push(Reply::tokens(["Hello", " from", " the", " mock"]).usage(20, 4));
    s.mock.push(Reply::text("Second answer"));
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    let snap = ws.frame().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["reset"], false);
    assert_eq!(snap["seq"], 0);
    assert_eq!(snap["worker"]["display_ref"], "companion@backend-internal");

    let (status, accepted) = s
        .post(&format!("{path}/input"), json!({"text": "Hi there"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["seq"], 1);
    let frames = ws.until_idle().await;
    assert_eq!(
        types(&frames),
        [
            "input_accepted",
            "status",
            "run_started",
            "assistant_delta",
            "assistant_delta",
            "assistant_delta",
            "assistant_delta",
            "assistant_message",
            "run_completed",
            "status"
        ]
    );
    assert_gapless(&frames);
    assert_eq!(frames[0]["message"]["text"], "Hi there");
    assert_eq!(frames[0]["message"]["role"], "user");
    assert_eq!(frames[0]["run_id"], accepted["run_id"]);
    assert_eq!(frames[0]["message"]["id"], accepted["message_id"]);
    assert_eq!(frames[1]["status"], "running");
    assert_eq!(frames[2]["model"], "mock-model");
    assert_eq!(text_of(&frames), "Hello from the mock");
    assert_eq!(frames[7]["message"]["state"], "complete");
    assert_eq!(
        frames[8]["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 4})
    );
    assert!(frames[8]["duration_ms"].is_u64());
    assert_eq!(frames[9]["status"], "idle");
    for f in &frames {
        assert_eq!(f["runtime_id"], "backend-internal");
        assert!(f["at"].as_str().unwrap().ends_with('Z'));
    }

    let (status, _) = s
        .post(&format!("{path}/input"), json!({"text": "And again"}))
        .await;
    assert_eq!(status, 202);
    let frames = ws.until_idle().await;
    assert_eq!(text_of(&frames), "Second answer");

    let (status, t) = s.get(&format!("{path}/transcript")).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Hi there",
            "Hello from the mock",
            "And again",
            "Second answer"
        ]
    );
    assert_eq!(t["truncated"], false);
    assert_eq!(t["seq"], frames.last().unwrap()["seq"]);
    let history = s.mock.wait_for_requests(2).await[1].messages();
    assert_eq!(history.len(), 4, "system, user, assistant, user");
    let (_, detail) = s.get(&path).await;
    assert_eq!(detail["usage"]["runs"], 2);
    assert_eq!(detail["last_run"]["state"], "completed");
    ws.close().await;
    s.assert_no_leaks();
}

#[tokio::test]
async fn wait_true_answers_with_the_message_or_the_typed_error() {
    let s = Server::start_with(Options {
        // Only the hanging reply meets it; real answers come well within.
        first_token_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let path = s.companion_path().await;
    s.mock.push(Reply::text("waited for").usage(5, 2));
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "q"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["text"], "waited for");
    assert_eq!(body["message"]["role"], "assistant");
    assert_eq!(
        body["usage"],
        json!({"runs": 1, "prompt_tokens": 5, "completion_tokens": 2})
    );

    s.mock.push(Reply::http_error(500, "upstream exploded"));
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "q"}))
        .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "provider_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream exploded"));
    assert_eq!(body["error"]["retryable"], true);

    s.mock.push(Reply::hang());
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "q"}))
        .await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "timeout");

    let (status, body) = s
        .post(&format!("{path}/input?wait=false"), json!({"text": "q"}))
        .await;
    assert_eq!(status, 202, "{body}");
    s.assert_no_leaks();
}

#[tokio::test]
async fn busy_then_cancel_then_not_running() {
    let s = Server::start().await;
    s.mock.push(
        Reply::tokens((0..500).map(|i| format!("t{i} "))).token_delay(Duration::from_millis(20)),
    );
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let (_, first) = s
        .post(&format!("{path}/input"), json!({"text": "long"}))
        .await;
    ws.until("assistant_delta").await;
    let (status, busy) = s
        .post(&format!("{path}/input"), json!({"text": "again"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(busy["error"]["code"], "busy");
    assert_eq!(busy["error"]["retryable"], true);
    assert_eq!(busy["error"]["active_run_id"], first["run_id"]);
    assert!(busy["error"]["message"]
        .as_str()
        .unwrap()
        .contains("companion@backend-internal"));

    let (status, cancelled) = s.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(status, 202);
    assert_eq!(cancelled["run_id"], first["run_id"]);
    let frames = ws.until_idle().await;
    let t = types(&frames);
    assert_eq!(
        &t[t.len() - 3..],
        ["assistant_message", "run_cancelled", "status"]
    );
    assert_eq!(frames[frames.len() - 3]["message"]["state"], "cancelled");
    s.mock.wait_for_open_streams(0).await;

    let (status, body) = s.post(&format!("{path}/cancel"), Value::Null).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "not_running");
    s.assert_no_leaks();
}

#[tokio::test]
async fn provider_faults_arrive_as_run_failed_events() {
    let s = Server::start_with(Options {
        // Only the hanging reply meets it; real answers come well within.
        first_token_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let cases = [
        (
            Reply::http_error(429, "slow down please"),
            "provider_error",
            Some("slow down please"),
        ),
        (
            Reply::tokens(["a", "b", "c"]).cut_after(1),
            "provider_error",
            None,
        ),
        (Reply::text("no end").without_done(), "provider_error", None),
        (Reply::hang(), "timeout", None),
    ];
    for (reply, code, message) in cases {
        s.mock.push(reply);
        let (status, _) = s
            .post(&format!("{path}/input"), json!({"text": "go"}))
            .await;
        assert_eq!(status, 202);
        let frames = ws.until_idle().await;
        let failed = frames
            .iter()
            .find(|f| f["type"] == "run_failed")
            .expect("run_failed");
        assert_eq!(failed["error"]["code"], code);
        if let Some(m) = message {
            assert!(failed["error"]["message"].as_str().unwrap().contains(m));
        }
        assert_eq!(
            frames.iter().filter(|f| f["type"] == "run_failed").count(),
            1
        );
    }
    let (_, detail) = s.get(&path).await;
    assert_eq!(detail["status"], "idle");
    assert_eq!(detail["last_run"]["state"], "failed");
    assert_eq!(detail["last_run"]["error"]["code"], "timeout");
    s.assert_no_leaks();
}

#[tokio::test]
async fn an_unconfigured_provider_starts_and_says_what_to_set() {
    let s = Server::start_with(Options {
        api_key: None,
        base_url: Some("https://api.openai.com/v1".into()),
        ..Options::default()
    })
    .await;
    let (status, c) = s.get("/api/companion").await;
    assert_eq!(status, 200);
    assert_eq!(c["provider"]["configured"], false);
    assert!(c["provider"]["hint"]
        .as_str()
        .unwrap()
        .contains("OPENAI_API_KEY"));
    let path = s.companion_path().await;
    let (status, body) = s
        .post(&format!("{path}/input"), json!({"text": "hello?"}))
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "provider_unconfigured");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("OPENAI_API_KEY"));
    assert!(s.mock.requests().is_empty());
    s.assert_no_leaks();
}

#[tokio::test]
async fn cursor_rules_over_the_socket() {
    let s = Server::start_with(Options {
        event_ring: 12,
        ..Options::default()
    })
    .await;
    s.mock.set_default(Reply::tokens(["x", "y"]));
    let path = s.companion_path().await;
    for _ in 0..2 {
        let (status, _) = s
            .post(&format!("{path}/input?wait=true"), json!({"text": "turn"}))
            .await;
        assert_eq!(status, 200);
    }
    // 2 runs x 8 events = 16 events; the ring holds the last 12 (5..=16).
    let (_, t) = s.get(&format!("{path}/transcript")).await;
    let last = t["seq"].as_u64().unwrap();
    assert_eq!(last, 16);

    // Held cursor: replay after it, no snapshot.
    let mut ws = s.ws(&format!("{path}/events?cursor=10")).await;
    let first = ws.frame().await;
    assert_eq!(first["seq"], 11);
    assert_ne!(first["type"], "snapshot");
    let mut replay = vec![first];
    while replay.last().unwrap()["seq"].as_u64().unwrap() < last {
        replay.push(ws.frame().await);
    }
    assert_gapless(&replay);

    // Expired cursor.
    let mut ws = s.ws(&format!("{path}/events?cursor=2")).await;
    let snap = ws.frame().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["reset"], true);
    assert_eq!(snap["reason"], "cursor_expired");
    assert_eq!(snap["seq"], last);
    assert_eq!(snap["transcript"].as_array().unwrap().len(), 4);

    // Cursor ahead.
    let mut ws = s.ws(&format!("{path}/events?cursor=999")).await;
    let snap = ws.frame().await;
    assert_eq!(snap["reset"], true);
    assert_eq!(snap["reason"], "cursor_ahead");

    // Current cursor: nothing replayed, live events follow.
    let mut ws = s.ws(&format!("{path}/events?cursor={last}")).await;
    let (_, _) = s
        .post(&format!("{path}/input"), json!({"text": "live"}))
        .await;
    let live = ws.frame().await;
    assert_eq!(live["seq"], last + 1);
    assert_eq!(live["type"], "input_accepted");

    // A bad cursor is invalid input before any upgrade.
    assert_eq!(
        s.ws_with(&format!("{path}/events?cursor=abc"), |_| {})
            .await
            .err(),
        Some(400)
    );
    assert_eq!(
        s.ws_with(&format!("{path}/events?cursor=-1"), |_| {})
            .await
            .err(),
        Some(400)
    );
    s.assert_no_leaks();
}

#[tokio::test]
async fn two_subscribers_see_identical_sequences() {
    let s = Server::start().await;
    s.mock.push(Reply::tokens((0..50).map(|i| format!("{i},"))));
    let path = s.companion_path().await;
    let mut a = s.ws(&format!("{path}/events")).await;
    let mut b = s.ws(&format!("{path}/events")).await;
    a.frame().await;
    b.frame().await;
    s.post(&format!("{path}/input"), json!({"text": "count"}))
        .await;
    let fa = a.until_idle().await;
    let fb = b.until_idle().await;
    assert_eq!(fa.len(), 50 + 6);
    let strip = |v: &[Value]| {
        v.iter()
            .map(|f| (f["seq"].clone(), f["type"].clone(), f["text"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&fa), strip(&fb));
    s.assert_no_leaks();
}

#[tokio::test]
async fn transcript_watermark_then_subscribe_misses_and_repeats_nothing() {
    let s = Server::start().await;
    s.mock.push(
        Reply::tokens((0..60).map(|i| format!("w{i} "))).token_delay(Duration::from_millis(10)),
    );
    let path = s.companion_path().await;
    let mut watcher = s.ws(&format!("{path}/events")).await;
    watcher.frame().await;
    s.post(&format!("{path}/input"), json!({"text": "stream"}))
        .await;
    for _ in 0..10 {
        watcher.until("assistant_delta").await;
    }
    // Mid-run: take the transcript, then subscribe from its watermark.
    let (_, t) = s.get(&format!("{path}/transcript")).await;
    let seq = t["seq"].as_u64().unwrap();
    let partial = t["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(partial["role"], "assistant");
    assert_eq!(partial["state"], "streaming");
    let mut ws = s.ws(&format!("{path}/events?cursor={seq}")).await;
    let rest = ws.until_idle().await;
    assert_eq!(rest[0]["seq"], seq + 1);
    assert_gapless(&rest);
    let rebuilt = format!("{}{}", partial["text"].as_str().unwrap(), text_of(&rest));
    let expected: String = (0..60).map(|i| format!("w{i} ")).collect();
    assert_eq!(rebuilt, expected);
    let final_message = rest
        .iter()
        .find(|f| f["type"] == "assistant_message")
        .unwrap();
    assert_eq!(final_message["message"]["text"], expected);
    assert_eq!(final_message["message"]["id"], partial["id"]);
    s.assert_no_leaks();
}

#[tokio::test]
async fn idempotent_input_over_http() {
    let s = Server::start().await;
    s.mock.set_default(Reply::text("once only"));
    let path = s.companion_path().await;
    let body = json!({"text": "pay once", "client_message_id": "client-7"});
    let (s1, a) = s.post(&format!("{path}/input"), body.clone()).await;
    let (s2, b) = s.post(&format!("{path}/input"), body.clone()).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a, b);
    let (status, _) = s
        .post(
            &format!("{path}/input"),
            json!({"text": "x", "client_message_id": ""}),
        )
        .await;
    assert_eq!(status, 400);
    s.assert_no_leaks();
}

#[tokio::test]
async fn workers_are_created_listed_and_deleted_with_workspace_events() {
    let s = Server::start().await;
    let mut events = s.ws("/api/events").await;
    let snap = events.frame().await;
    assert_eq!(snap["type"], "workspace_snapshot");
    assert_eq!(snap["runtimes"][0]["runtime_id"], "backend-internal");
    assert_eq!(snap["workers"].as_array().unwrap().len(), 1);

    let (status, created) = s
        .post(
            "/api/runtimes/backend-internal/workers",
            json!({"display_name": "scribe"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["display_ref"], "scribe@backend-internal");
    assert_eq!(created["profile"]["name"], "companion");
    let wid = created["worker_id"].as_str().unwrap().to_owned();
    let ev = events.until("worker_created").await;
    assert_eq!(ev.last().unwrap()["worker"]["worker_id"], wid.as_str());

    let (status, empty_body) = s
        .post_raw("/api/runtimes/backend-internal/workers", "")
        .await;
    assert_eq!(status, 201, "an omitted body is allowed: {empty_body}");
    let (_, list) = s.get("/api/runtimes/backend-internal/workers").await;
    assert_eq!(list["workers"].as_array().unwrap().len(), 3);

    let path = format!("/api/runtimes/backend-internal/workers/{wid}");
    s.mock.push(Reply::hang());
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    s.post(&format!("{path}/input"), json!({"text": "never answered"}))
        .await;
    ws.until("run_started").await;
    let (status, body) = s.delete(&path).await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null);
    let rest = ws.until("worker_stopped").await;
    assert!(types(&rest).contains(&"run_cancelled".to_owned()));
    assert!(
        ws.next().await.is_none(),
        "the socket closes after worker_stopped"
    );
    let ev = events.until("worker_stopped").await;
    assert_eq!(ev.last().unwrap()["worker_id"], wid.as_str());
    let (status, body) = s.get(&path).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "worker_not_found");
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_deleted_companion_is_made_anew() {
    let s = Server::start().await;
    let path = s.companion_path().await;
    let (status, _) = s.delete(&path).await;
    assert_eq!(status, 204);
    let again = s.companion_path().await;
    assert_ne!(path, again);
    let (status, _) = s.get(&again).await;
    assert_eq!(status, 200);
    s.assert_no_leaks();
}

#[tokio::test]
async fn every_bad_input_gets_its_code_and_the_server_stays_healthy() {
    let s = Server::start().await;
    let path = s.companion_path().await;
    let input = format!("{path}/input");
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (400, "invalid_input", s.post_raw(&input, "{not json").await),
        (400, "invalid_input", s.post_raw(&input, "[1,2]").await),
        (400, "invalid_input", s.post(&input, json!({})).await),
        (
            400,
            "invalid_input",
            s.post(&input, json!({"text": 42})).await,
        ),
        (
            400,
            "invalid_input",
            s.post(&input, json!({"text": ""})).await,
        ),
        (
            400,
            "invalid_input",
            s.post(&input, json!({"text": " \n\t "})).await,
        ),
        (
            400,
            "invalid_input",
            s.post(&input, json!({"text": "x".repeat(32 * 1024 + 1)}))
                .await,
        ),
        (
            400,
            "invalid_input",
            s.post(&format!("{input}?wait=maybe"), json!({"text": "hi"}))
                .await,
        ),
        (
            400,
            "invalid_input",
            s.post(
                "/api/runtimes/backend-internal/workers/not-a-ulid/input",
                json!({"text": "hi"}),
            )
            .await,
        ),
        (
            400,
            "invalid_input",
            s.get("/api/runtimes/Bad_Runtime!/workers").await,
        ),
        (
            400,
            "invalid_input",
            s.get(&format!("{path}/transcript?limit=0")).await,
        ),
        (
            400,
            "invalid_input",
            s.get(&format!("{path}/transcript?limit=1001")).await,
        ),
        (
            400,
            "invalid_input",
            s.get(&format!("{path}/transcript?limit=many")).await,
        ),
        (400, "invalid_input", s.get(&format!("{path}/events")).await),
        (
            400,
            "invalid_input",
            s.post(
                "/api/runtimes/backend-internal/workers",
                json!({"profile": "shell"}),
            )
            .await,
        ),
        (
            400,
            "invalid_input",
            s.post(
                "/api/runtimes/backend-internal/workers",
                json!({"display_name": "a@b"}),
            )
            .await,
        ),
        (
            404,
            "runtime_not_found",
            s.get("/api/runtimes/nowhere").await,
        ),
        (
            404,
            "runtime_not_found",
            s.post(
                "/api/runtimes/nowhere/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XKA/input",
                json!({"text": "hi"}),
            )
            .await,
        ),
        (
            404,
            "worker_not_found",
            s.get("/api/runtimes/backend-internal/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XKA")
                .await,
        ),
        (
            404,
            "worker_not_found",
            s.post(
                "/api/runtimes/backend-internal/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XKA/cancel",
                json!({}),
            )
            .await,
        ),
        (404, "not_found", s.get("/api/nothing-here").await),
        (
            405,
            "method_not_allowed",
            s.send(s.http.put(s.url("/api/health"))).await,
        ),
        (
            409,
            "not_running",
            s.post(&format!("{path}/cancel"), json!({})).await,
        ),
        (
            413,
            "payload_too_large",
            s.post_raw(
                &input,
                format!("{{\"text\":\"{}\"}}", "y".repeat(300 * 1024)),
            )
            .await,
        ),
    ];
    for (i, (status, code, (got_status, body))) in cases.iter().enumerate() {
        assert_eq!(got_status, status, "case {i}: {body}");
        assert_eq!(body["error"]["code"], *code, "case {i}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {i}"
        );
        assert!(body["error"]["retryable"].is_boolean(), "case {i}");
    }
    let (status, _) = s.get("/api/health").await;
    assert_eq!(status, 200);
    s.mock.push(Reply::text("still fine"));
    let (status, body) = s
        .post(&format!("{input}?wait=true"), json!({"text": "ok?"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["message"]["text"], "still fine");
    let (_, t) = s.get(&format!("{path}/transcript")).await;
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        2,
        "bad input left nothing behind"
    );
    s.assert_no_leaks();
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused() {
    let s = Server::start().await;
    let path = s.companion_path().await;
    let (status, body) = s
        .send(
            s.http
                .post(s.url(&format!("{path}/input")))
                .header("origin", "http://evil.example")
                .json(&json!({"text": "hi"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden_origin");
    let own = format!("http://{}", s.addr);
    let (status, _) = s
        .send(
            s.http
                .get(s.url("/api/health"))
                .header("origin", own.as_str()),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s
        .send(
            s.http
                .get(s.url("/api/health"))
                .header("host", "evil.example:7760"),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden_origin");
    let (status, _) = s
        .send(
            s.http
                .get(s.url("/api/health"))
                .header("host", format!("localhost:{}", s.addr.port())),
        )
        .await;
    assert_eq!(status, 200);
    let refused = s
        .ws_with(&format!("{path}/events"), |req| {
            req.headers_mut()
                .insert("origin", "http://evil.example".parse().unwrap());
        })
        .await;
    assert_eq!(refused.err(), Some(403));
    let refused = s
        .ws_with("/api/events", |req| {
            req.headers_mut()
                .insert("origin", "https://evil.example".parse().unwrap());
        })
        .await;
    assert_eq!(refused.err(), Some(403));
    assert!(s.mock.requests().is_empty(), "nothing reached the provider");
    s.assert_no_leaks();
}

#[tokio::test]
async fn token_mode_requires_the_token_everywhere() {
    let token = "a-long-test-token-123".to_owned();
    let s = Server::start_with(Options {
        token: Some(token.clone()),
        ..Options::default()
    })
    .await;
    let anon = |path: &str| s.send(s.http.get(s.url(path)));
    let (status, body) = anon("/api/health").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = s
        .send(
            s.http
                .get(s.url("/api/runtimes"))
                .bearer_auth("wrong-token-xyz"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = s.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let (status, _) = anon(&format!("/api/runtimes?token={token}")).await;
    assert_eq!(status, 200);
    let (status, _) = s
        .send(
            s.http
                .get(s.url("/api/runtimes"))
                .header("cookie", format!("yoi_token={token}")),
        )
        .await;
    assert_eq!(status, 200);
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    let refused = s
        .ws_with(&format!("{path}/events"), |req| {
            req.headers_mut().remove("authorization");
        })
        .await;
    assert_eq!(refused.err(), Some(401));
    // The console page itself loads without the token, so it can ask for it.
    let (status, _) = anon("/").await;
    assert_eq!(status, 200);
    s.assert_no_leaks();
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let s = Server::start().await;
    let (status, doc) = s.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/runtimes",
        "/api/runtimes/{runtime_id}",
        "/api/runtimes/{runtime_id}/workers",
        "/api/runtimes/{runtime_id}/workers/{worker_id}",
        "/api/runtimes/{runtime_id}/workers/{worker_id}/input",
        "/api/runtimes/{runtime_id}/workers/{worker_id}/cancel",
        "/api/runtimes/{runtime_id}/workers/{worker_id}/transcript",
        "/api/runtimes/{runtime_id}/workers/{worker_id}/events",
        "/api/events",
        "/api/companion",
        "/api/profiles",
        "/api/openapi.json",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc["components"]["schemas"]["WorkerEvent"].is_object());
    s.assert_no_leaks();
}

/// The router and the document come from one route list: every documented
/// operation is served, and every other method on a documented path is 405.
#[tokio::test]
async fn every_documented_route_is_served_and_nothing_else() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let (_, companion) = s.get("/api/companion").await;
    let worker = companion["worker_id"].as_str().unwrap().to_owned();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{paths:?}");
    let mut checked = 0;
    // DELETE last: it stops the worker the other paths name.
    for method in ["get", "post", "put", "patch", "delete"] {
        for (path, item) in paths {
            let url = path
                .replace("{runtime_id}", "backend-internal")
                .replace("{worker_id}", &worker);
            let documented = item.get(method).is_some();
            let req = match method {
                "get" => s.http.get(s.url(&url)),
                "post" => s.http.post(s.url(&url)).body("{}"),
                "put" => s.http.put(s.url(&url)),
                "patch" => s.http.patch(s.url(&url)),
                _ => s.http.delete(s.url(&url)),
            };
            let (status, body) = s.send(req).await;
            let code = body["error"]["code"].as_str().unwrap_or("");
            if documented {
                assert!(
                    status != 404 || code == "worker_not_found",
                    "{method} {path} is documented but not served: {status} {body}"
                );
                assert_ne!(status, 405, "{method} {path} is documented: {body}");
                checked += 1;
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented: {body}");
                assert_eq!(code, "method_not_allowed");
            }
        }
    }
    assert!(checked >= 14, "only {checked} operations checked");
    // A path that is not in the document is not served under /api.
    for path in [
        "/api/runtimes/backend-internal/workers/x/other",
        "/api/workers",
        "/api/runtimes/backend-internal/queue",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    s.assert_no_leaks();
}

/// What a console check says when the test binary holds no built console.
const CONSOLE_NOT_BUILT: &str = "the web console is not built into this test binary: build it \
     (`npm install && npx vite build` in web/workspace, as scripts/test-all does; or let the \
     build make it: Node.js installed and YOI_SKIP_WEB_BUILD unset), then run the tests again";

#[tokio::test]
async fn the_console_is_served_at_the_root() {
    let s = Server::start().await;
    let resp = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let html = resp.text().await.unwrap();
    assert!(html.to_lowercase().contains("<!doctype html>"));
    // Without the built console the page is the build's stand-in, which has
    // no script and no asset: the checks below would check nothing.
    assert!(
        !html.contains("was not built into this binary"),
        "{CONSOLE_NOT_BUILT}"
    );
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(
        !scripts.is_empty(),
        "no script in the page: {CONSOLE_NOT_BUILT}"
    );
    // No inline script: every script comes from a file the policy allows.
    for script in scripts {
        let tag = script.split('>').next().unwrap();
        assert!(
            tag.contains("src=\"/assets/"),
            "inline script: <script{tag}>"
        );
        assert!(
            script.split('>').nth(1).unwrap().starts_with("</script"),
            "inline script body"
        );
    }
    // Hashed assets are cached for a year.
    let asset = html
        .split('"')
        .find(|p| p.starts_with("/assets/"))
        .unwrap_or_else(|| panic!("no asset in the page: {CONSOLE_NOT_BUILT}"));
    let resp = s.http.get(s.url(asset)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{asset}");
    assert!(resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let missing = s
        .http
        .get(s.url("/assets/nope-123.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("content-security-policy"));
}

#[tokio::test]
async fn shutdown_ends_runs_with_a_terminal_event_and_closes_sockets() {
    let s = Server::start().await;
    s.mock.push(Reply::hang());
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    s.post(&format!("{path}/input"), json!({"text": "hold on"}))
        .await;
    ws.until("run_started").await;
    let mut rest = Vec::new();
    let stopping = tokio::spawn(async move {
        while let Some(f) = ws.next().await {
            rest.push(f);
        }
        rest
    });
    s.shutdown().await;
    let rest = stopping.await.unwrap();
    assert!(
        types(&rest).contains(&"run_cancelled".to_owned()),
        "{rest:?}"
    );
}

#[tokio::test]
async fn nothing_leaks_even_when_the_provider_echoes_the_key() {
    let s = Server::start().await;
    s.mock.push(Reply::http_error(
        401,
        &format!("Incorrect API key provided: {API_KEY}"),
    ));
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 502);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("<redacted>"));
    ws.until_idle().await;
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_mid_stream_provider_error_is_redacted_and_truncated() {
    let s = Server::start().await;
    let long = format!("stream broke near {API_KEY}; {}", "detail ".repeat(2000));
    s.mock
        .push(Reply::tokens(["partial", " text"]).error_mid_stream(&long));
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("<redacted>"), "{message}");
    assert!(
        message.chars().count() < 700,
        "truncated: {} chars",
        message.chars().count()
    );
    let frames = ws.until_idle().await;
    let failed = frames.iter().find(|f| f["type"] == "run_failed").unwrap();
    assert_eq!(failed["error"]["message"], message);
    let kept = frames
        .iter()
        .find(|f| f["type"] == "assistant_message")
        .unwrap();
    assert_eq!(kept["message"]["text"], "partial text");
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_socket_that_does_not_read_is_reset_with_lagged_not_starved() {
    // A ring smaller than the answer (the socket falls out of it), room for
    // the answer, a send deadline longer than the flood (this socket lags,
    // it is not dropped as stalled).
    let s = Server::start_with(Options {
        event_ring: 500,
        runtime_limits: RuntimeLimits {
            answer_bytes: 64 * 1024 * 1024,
            ..RuntimeLimits::default()
        },
        limits: ServerLimits {
            sockets: SocketPolicy {
                send_deadline: Duration::from_secs(600),
                ..SocketPolicy::default()
            },
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    let chunk = "z".repeat(8 * 1024);
    s.mock
        .push(Reply::tokens((0..1500).map(|i| format!("{i}:{chunk}"))));
    let path = s.companion_path().await;
    let mut slow = s.ws(&format!("{path}/events")).await;
    slow.frame().await;
    // The worker streams the whole answer while this socket reads nothing.
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "flood"}))
        .await;
    assert_eq!(status, 200);
    let (_, t) = s.get(&format!("{path}/transcript?limit=1")).await;
    let last = t["seq"].as_u64().unwrap();
    let mut lagged = None;
    loop {
        let f = slow.frame().await;
        if f["type"] == "snapshot" {
            assert_eq!(f["reset"], true);
            assert_eq!(f["reason"], "lagged");
            lagged = Some(f["seq"].as_u64().unwrap());
        }
        if f["seq"].as_u64().unwrap() >= last {
            break;
        }
    }
    assert!(lagged.is_some(), "the slow socket was told it lagged");
    // The server and other clients were not held up.
    let (status, _) = s.get("/api/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_companion_and_its_transcript_survive_a_restart() {
    let s = Server::start().await;
    s.mock.set_default(Reply::text("before restart"));
    let path = s.companion_path().await;
    let (status, _) = s
        .post(
            &format!("{path}/input?wait=true"),
            json!({"text": "remember me"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, before) = s.get(&format!("{path}/transcript")).await;
    let workspace = s.workspace.clone();
    s.assert_no_leaks();
    s.shutdown_keeping(true).await;

    let s = Server::start_with(Options {
        workspace: Some(workspace),
        ..Options::default()
    })
    .await;
    s.mock.set_default(Reply::text("after restart"));
    assert_eq!(s.companion_path().await, path, "the same Companion");
    let (_, after) = s.get(&format!("{path}/transcript")).await;
    assert_eq!(after, before);
    // A client resuming with its cursor sees the next event, nothing else.
    let seq = after["seq"].as_u64().unwrap();
    let mut ws = s.ws(&format!("{path}/events?cursor={seq}")).await;
    s.post(&format!("{path}/input"), json!({"text": "still there?"}))
        .await;
    let frames = ws.until_idle().await;
    assert_eq!(frames[0]["seq"], seq + 1);
    assert_gapless(&frames);
    assert_eq!(text_of(&frames), "after restart");
    let history = s.mock.wait_for_requests(1).await[0].messages();
    assert!(history.iter().any(|(_, text)| text == "before restart"));
    s.assert_no_leaks();
}

#[tokio::test]
async fn worker_lists_and_transcripts_page_through_everything() {
    let s = Server::start().await;
    let base = "/api/runtimes/backend-internal/workers";
    for i in 0..5 {
        let (status, _) = s.post(base, json!({"display_name": format!("w{i}")})).await;
        assert_eq!(status, 201);
    }
    let (_, all) = s.get(base).await;
    let every: Vec<Value> = all["workers"].as_array().unwrap().clone();
    assert_eq!(every.len(), 6, "the Companion and five more");
    assert!(all.get("next_after").is_none(), "one page without a limit");
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("{base}?limit=2&after={a}"),
            None => format!("{base}?limit=2"),
        };
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let workers = page["workers"].as_array().unwrap();
        assert!(workers.len() <= 2);
        paged.extend(workers.iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, every, "the pages are the whole list, in order");
    for bad in ["?limit=0", "?limit=1001", "?after=nope", "?limit=x"] {
        let (status, body) = s.get(&format!("{base}{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
    }

    // A transcript pages back from a message.
    let (_, c) = s.get("/api/companion").await;
    let worker = format!("{base}/{}", c["worker_id"].as_str().unwrap());
    for i in 0..3 {
        let (status, _) = s
            .post(
                &format!("{worker}/input?wait=true"),
                json!({"text": format!("q{i}")}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (_, newest) = s.get(&format!("{worker}/transcript?limit=2")).await;
    assert_eq!(newest["truncated"], true);
    let first = newest["messages"][0]["id"].as_str().unwrap().to_owned();
    let (_, older) = s
        .get(&format!("{worker}/transcript?limit=10&before={first}"))
        .await;
    assert_eq!(older["messages"].as_array().unwrap().len(), 4);
    assert_eq!(older["truncated"], false);
    assert_eq!(older["messages"][0]["text"], "q0");
    let (status, body) = s.get(&format!("{worker}/transcript?before=nope")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    // A message this worker never had: nothing before it.
    let unknown = yoi_protocol::MessageId::new();
    let (status, body) = s
        .get(&format!("{worker}/transcript?before={unknown}"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    s.assert_no_leaks();
}

#[tokio::test]
async fn queued_input_over_http_queues_answers_queue_full_and_removes() {
    let s = Server::start().await;
    s.mock.push(Reply::tokens(["hold"]).then_hang());
    s.mock.set_default(Reply::echo());
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let (status, first) = s
        .post(
            &format!("{path}/input"),
            json!({"text": "first", "on_busy": "queue"}),
        )
        .await;
    assert_eq!(status, 202, "{first}");
    assert!(
        first.get("queued").is_none(),
        "an idle worker runs it: {first}"
    );
    ws.until("run_started").await;

    let mut queued = Vec::new();
    for i in 1..=8 {
        let (status, body) = s
            .post(
                &format!("{path}/input"),
                json!({"text": format!("q{i}"), "on_busy": "queue"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["queued"], true);
        assert_eq!(body["position"], i);
        queued.push(body);
    }
    let (status, full) = s
        .post(
            &format!("{path}/input"),
            json!({"text": "q9", "on_busy": "queue"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(full["error"]["code"], "queue_full");
    assert_eq!(full["error"]["retryable"], true);
    let (status, busy) = s.post(&format!("{path}/input"), json!({"text": "x"})).await;
    assert_eq!(
        (status, busy["error"]["code"].clone()),
        (409, json!("busy"))
    );

    let (_, detail) = s.get(&path).await;
    assert_eq!(detail["queue"].as_array().unwrap().len(), 8);
    assert_eq!(detail["queue"][0]["text"], "q1");
    assert_eq!(detail["queue"][0]["message_id"], queued[0]["message_id"]);

    // Remove all but the first; a second remove, an unknown id and a bad id.
    for q in &queued[1..] {
        let (status, body) = s
            .delete(&format!(
                "{path}/queue/{}",
                q["message_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 204, "{body}");
    }
    let gone = queued[1]["message_id"].as_str().unwrap();
    let (status, body) = s.delete(&format!("{path}/queue/{gone}")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, body) = s.delete(&format!("{path}/queue/not-an-id")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_input"))
    );

    // Cancel stops only the running run: the queued one starts.
    let (status, _) = s.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(status, 202);
    let frames = ws.until("run_completed").await;
    let removed = frames
        .iter()
        .filter(|f| f["type"] == "input_dequeued" && f["reason"] == "removed")
        .count();
    assert_eq!(removed, 7);
    let start = frames
        .iter()
        .find(|f| f["type"] == "input_dequeued" && f["reason"] == "started")
        .unwrap();
    assert_eq!(start["message_id"], queued[0]["message_id"]);
    let accepted = frames
        .iter()
        .rev()
        .find(|f| f["type"] == "input_accepted")
        .unwrap();
    assert_eq!(accepted["message"]["text"], "q1");
    assert_eq!(accepted["run_id"], queued[0]["run_id"]);
    s.assert_no_leaks();
}
