//! Many workers: the workspace snapshot stays bounded, and the rest of the
//! workers come a page at a time in the consoles' order (activity), each
//! exactly once, optionally filtered by name, with typed errors for bad
//! parameters. Against a real backend and its embedded runtime.

// Tests may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;

use serde_json::{json, Value};
use support::Server;

const RT: &str = "/api/runtimes/backend-internal/workers";

/// Creates `n` workers named `{prefix}{i}` with parallel requests; their ids
/// in creation order is not needed, only the set.
async fn create_many(s: &Server, n: usize, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        let made = futures::future::join_all(
            chunk
                .iter()
                .map(|i| s.post(RT, json!({"display_name": format!("{prefix}{i}")}))),
        )
        .await;
        for (status, body) in made {
            assert_eq!(status, 201, "{body}");
            ids.push(body["worker_id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

/// Talks to the worker until its run ended, so its `last_activity` is now.
async fn talk(s: &Server, worker_id: &str) {
    let (status, body) = s
        .post(
            &format!("{RT}/{worker_id}/input?wait=true"),
            json!({"text": "hello"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The contract's activity order as a client would check it: workers that
/// said nothing first (newest id first), then newest `last_activity` first,
/// ties by newest id.
fn comes_before(a: &Value, b: &Value) -> bool {
    let key = |w: &Value| {
        (
            w["last_activity"].as_str().map(str::to_owned),
            w["worker_id"].as_str().unwrap().to_owned(),
        )
    };
    let ((ta, ia), (tb, ib)) = (key(a), key(b));
    match (ta, tb) {
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) if x != y => x > y,
        _ => ia > ib,
    }
}

/// Every page of `query` (order=activity), from `after` on, `limit` a page.
async fn all_pages(s: &Server, query: &str, limit: usize, after: Option<String>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let mut path = format!("{RT}?order=activity&limit={limit}{query}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let workers = page["workers"].as_array().unwrap().clone();
        assert!(workers.len() <= limit);
        out.extend(workers);
        match page["next_after"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), out.last().unwrap()["worker_id"].as_str());
                after = Some(next.to_owned());
            }
            None => return out,
        }
    }
}

fn ids_of(workers: &[Value]) -> Vec<String> {
    workers
        .iter()
        .map(|w| w["worker_id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_in_activity_order(workers: &[Value]) {
    for pair in workers.windows(2) {
        assert!(
            comes_before(&pair[0], &pair[1]),
            "out of order: {} then {}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn the_snapshot_is_bounded_and_pages_return_every_worker_once_in_order() {
    let s = Server::start().await;
    let companion = s.companion_path().await;
    let created = create_many(&s, 260, "w").await;
    // A few workers say something, in this order: the last is the most recent.
    let talked: Vec<String> = [5usize, 100, 250, 17]
        .iter()
        .map(|i| created[*i].clone())
        .collect();
    for id in &talked {
        talk(&s, id).await;
    }

    let mut events = s.ws("/api/events").await;
    let snap = events.frame().await;
    assert_eq!(snap["type"], "workspace_snapshot");
    let snap_workers = snap["workers"].as_array().unwrap().clone();
    assert_eq!(
        snap_workers.len(),
        200,
        "at most 200 workers in the snapshot"
    );
    assert_in_activity_order(&snap_workers);
    let runtime = &snap["runtimes"][0];
    assert_eq!(runtime["runtime_id"], "backend-internal");
    assert_eq!(runtime["worker_count"], 261, "the Companion and 260 more");

    // The snapshot is the head of the runtime's order; paging on from its
    // last row brings the rest, and together they hold every worker once.
    let first = all_pages(&s, "", 200, None).await;
    assert_eq!(ids_of(&first[..200]), ids_of(&snap_workers));
    let rest = all_pages(
        &s,
        "",
        7,
        snap_workers.last().unwrap()["worker_id"]
            .as_str()
            .map(str::to_owned),
    )
    .await;
    let mut every = snap_workers.clone();
    every.extend(rest);
    assert_eq!(every.len(), 261);
    assert_in_activity_order(&every);
    let unique: HashSet<String> = ids_of(&every).into_iter().collect();
    assert_eq!(unique.len(), 261, "each worker exactly once");
    assert!(unique.contains(companion.rsplit('/').next().unwrap()));
    // Those who spoke come last, the most recent of them first.
    let tail: Vec<String> = ids_of(&every[every.len() - 4..]);
    assert_eq!(tail, talked.iter().rev().cloned().collect::<Vec<_>>());

    // The same with small pages from the start, and in creation order.
    assert_eq!(ids_of(&all_pages(&s, "", 13, None).await), ids_of(&every));
    let (status, by_creation) = s.get(&format!("{RT}?limit=1000")).await;
    assert_eq!(status, 200);
    let by_creation = ids_of(by_creation["workers"].as_array().unwrap());
    assert_eq!(by_creation.len(), 261);
    let made: HashSet<&String> = created.iter().collect();
    assert_eq!(by_creation[1..].iter().collect::<HashSet<_>>(), made);
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_worker_that_becomes_active_moves_up_and_the_socket_says_so() {
    let s = Server::start().await;
    let created = create_many(&s, 30, "m").await;
    for id in &created {
        talk(&s, id).await;
    }
    let mut events = s.ws("/api/events").await;
    assert_eq!(events.frame().await["type"], "workspace_snapshot");

    // A client holds the first page (the Companion, silent, then those who
    // spoke last); the worker that spoke first, the last row, speaks again.
    let (_, page) = s.get(&format!("{RT}?order=activity&limit=5")).await;
    let held = page["workers"].as_array().unwrap().clone();
    let quiet = created[0].clone();
    talk(&s, &quiet).await;
    let updated = loop {
        let frame = events.frame().await;
        if frame["type"] == "worker_updated" && frame["worker"]["worker_id"] == quiet.as_str() {
            break frame;
        }
    };
    assert!(updated["worker"]["last_activity"].is_string());

    // Paging on from the last row held does not bring it again: it moved up
    // past that row (the client placed it from the frame above).
    let after = held.last().unwrap()["worker_id"]
        .as_str()
        .map(str::to_owned);
    let rest = all_pages(&s, "", 4, after).await;
    assert!(!ids_of(&rest).contains(&quiet));
    let mut seen: Vec<String> = ids_of(&held);
    seen.extend(ids_of(&rest));
    seen.push(quiet.clone());
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "nobody twice");
    assert_eq!(unique.len(), 31, "nobody missed");
}

#[tokio::test]
async fn a_name_filter_finds_workers_server_side_in_order() {
    let s = Server::start().await;
    create_many(&s, 40, "plain ").await;
    let mut needles = Vec::new();
    for i in 0..9 {
        let (status, body) = s
            .post(RT, json!({"display_name": format!("Needle {i}")}))
            .await;
        assert_eq!(status, 201);
        needles.push(body["worker_id"].as_str().unwrap().to_owned());
    }
    create_many(&s, 10, "more ").await;
    talk(&s, &needles[3]).await;

    let found = all_pages(&s, "&q=%20nEEdle%20", 2, None).await;
    let mut expected = needles.clone();
    expected.sort();
    expected.reverse(); // silent ones, newest first ...
    expected.retain(|id| *id != needles[3]);
    expected.push(needles[3].clone()); // ... then the one that spoke
    assert_eq!(ids_of(&found), expected);

    // In creation order too, and nothing for a name nobody has.
    let (_, page) = s.get(&format!("{RT}?q=needle&limit=4")).await;
    assert_eq!(ids_of(page["workers"].as_array().unwrap()), needles[..4]);
    assert_eq!(page["next_after"], needles[3].as_str());
    let (status, none) = s.get(&format!("{RT}?order=activity&q=zebra")).await;
    assert_eq!(status, 200);
    assert_eq!(none["workers"], json!([]));
    assert!(none.get("next_after").is_none());
    // A blank filter is no filter.
    let (_, blank) = s.get(&format!("{RT}?order=activity&q=%20%20")).await;
    assert_eq!(blank["workers"].as_array().unwrap().len(), 60);
}

#[tokio::test]
async fn bad_paging_parameters_are_typed_errors() {
    let s = Server::start().await;
    let long = "x".repeat(81);
    for query in [
        "order=newest".to_owned(),
        "order=activity&limit=0".to_owned(),
        "order=activity&limit=1001".to_owned(),
        "order=activity&after=not-a-ulid".to_owned(),
        format!("order=activity&q={long}"),
    ] {
        let (status, body) = s.get(&format!("{RT}?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{query}");
        assert_eq!(body["error"]["retryable"], false);
    }
    let ok = format!("{RT}?order=activity&q={}", "x".repeat(80));
    assert_eq!(s.get(&ok).await.0, 200);

    // A worker the runtime does not hold cannot say where a page starts.
    let gone = create_many(&s, 1, "gone").await.remove(0);
    assert_eq!(s.delete(&format!("{RT}/{gone}")).await.0, 204);
    let (status, body) = s.get(&format!("{RT}?order=activity&after={gone}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(!body["error"]["message"].as_str().unwrap().contains("/tmp"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_paging_parameters_inline() {
    let s = Server::start().await;
    let (status, doc) = s.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let params = doc["paths"]["/api/runtimes/{runtime_id}/workers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    // Inline, so that a fuzzer (and a reader) needs no other part of the document.
    let order = param("order")["schema"].to_string();
    assert!(
        order.contains("\"created\"") && order.contains("\"activity\""),
        "{order}"
    );
    assert!(!order.contains("$ref"), "{order}");
    assert_eq!(param("q")["schema"]["maxLength"], 80);
    assert_eq!(param("limit")["schema"]["maximum"], 1000);
    assert!(param("after")["schema"]["pattern"].is_string());
}
