//! Paging and filtering workers through a `local` runtime (a `yoi runtime
//! serve` the backend starts): the same route code answers under `/v1`, the
//! registry's client passes `order`, `after` and `q` on, and the workspace
//! snapshot lists only the most recently active workers of every runtime.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;

use serde_json::{json, Value};
use support::Backend;
use yoi_test_support::MockOpenAi;

const NEAR: &str = "/api/runtimes/near/workers";

fn ids_of(workers: &[Value]) -> Vec<String> {
    workers
        .iter()
        .map(|w| w["worker_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `near` with `query`, `limit` at a time.
async fn all_pages(b: &Backend, query: &str, limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("{NEAR}?order=activity&limit={limit}{query}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, page) = b.get(&path).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["workers"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_local_runtime_pages_and_filters_its_workers_in_activity_order() {
    let mock = MockOpenAi::start().await;
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    b.wait_runtime("near", "available").await;

    let mut made = Vec::new();
    for i in 0..24 {
        let name = if i % 6 == 0 {
            format!("Needle {i}")
        } else {
            format!("hay {i}")
        };
        let (status, w) = b.post(NEAR, json!({"display_name": name})).await;
        assert_eq!(status, 201, "{w}");
        made.push(w["worker_id"].as_str().unwrap().to_owned());
    }
    // Two speak, the second most recently.
    for id in [&made[4], &made[12]] {
        let (status, body) = b
            .post(
                &format!("{NEAR}/{id}/input?wait=true"),
                json!({"text": "hi"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let every = all_pages(&b, "", 5).await;
    assert_eq!(every.len(), 24);
    let unique: HashSet<String> = ids_of(&every).into_iter().collect();
    assert_eq!(unique.len(), 24, "each worker exactly once");
    // Silent workers first, newest first; then those who spoke, newest first.
    let mut silent: Vec<String> = made.clone();
    silent.retain(|id| *id != made[4] && *id != made[12]);
    silent.sort();
    silent.reverse();
    silent.push(made[12].clone());
    silent.push(made[4].clone());
    assert_eq!(ids_of(&every), silent);
    assert!(every.iter().all(|w| w["runtime_id"] == "near"));

    let needles = all_pages(&b, "&q=NEEDLE", 2).await;
    let mut expected: Vec<String> = (0..24).step_by(6).map(|i| made[i].clone()).collect();
    expected.retain(|id| *id != made[12]);
    expected.sort();
    expected.reverse();
    expected.push(made[12].clone()); // the needle that spoke comes last
    assert_eq!(ids_of(&needles), expected);

    // Bad parameters are refused the same way through the runtime.
    for query in ["order=sideways", "order=activity&limit=0", "after=nope"] {
        let (status, body) = b.get(&format!("{NEAR}?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
    }
    let (status, body) = b
        .get(&format!(
            "{NEAR}?order=activity&after=01ARZ3NDEKTSV4RRFFQ69G5FAV"
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    // The snapshot lists the runtime with its count, its workers in order.
    let mut events = b.ws("/api/events").await;
    let snap = events.frame().await;
    let near = snap["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime_id"] == "near")
        .unwrap()
        .clone();
    assert_eq!(near["worker_count"], 24);
    let listed: Vec<Value> = snap["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["runtime_id"] == "near")
        .cloned()
        .collect();
    assert_eq!(ids_of(&listed), ids_of(&every));
    b.assert_no_leaks(&[], &[]);
}
