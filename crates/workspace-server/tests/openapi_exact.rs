//! `/api/openapi.json` agrees with the server where it did not (issue 21):
//! the bound on `text` (the server counted UTF-8 bytes, the schema
//! characters; both count characters now), the WebSocket
//! routes (which headers make an upgrade, what a plain GET gets, the
//! cursor's bound), and links to every operation that takes an id.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::*;

const WORKER: &str = "/api/runtimes/{runtime_id}/workers/{worker_id}";
const SOCKETS: &[&str] = &[
    "/api/events",
    "/api/runtimes/{runtime_id}/workers/{worker_id}/events",
];

#[tokio::test]
async fn every_text_the_schema_allows_is_taken_by_the_server() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let text = &doc["components"]["schemas"]["InputRequest"]["properties"]["text"];
    let most = usize::try_from(text["maxLength"].as_u64().unwrap()).unwrap();
    assert!(
        text["description"]
            .as_str()
            .unwrap()
            .contains("32768 characters"),
        "the rule is described: {text}"
    );
    // The longest text the schema allows, in characters of four bytes.
    let longest = "😀".repeat(most);
    let path = s.companion_path().await;
    let (status, body) = s
        .post(&format!("{path}/input"), json!({"text": longest}))
        .await;
    assert_eq!(status, 202, "{body}");
    // One character more than the schema allows is refused, as documented.
    let (_, _) = s.post(&format!("{path}/cancel"), json!({})).await;
    let (status, body) = s
        .post(
            &format!("{path}/input"),
            json!({"text": "a".repeat(most + 1)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("characters"),
        "{body}"
    );
}

#[tokio::test]
async fn socket_routes_say_what_makes_an_upgrade_and_what_a_plain_get_gets() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let path = s.companion_path().await;
    for (route, real) in SOCKETS
        .iter()
        .zip(["/api/events".to_owned(), format!("{path}/events")])
    {
        let get = &doc["paths"][*route]["get"];
        let headers: BTreeSet<&str> = get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header" && p["required"] == true)
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            BTreeSet::from([
                "Connection",
                "Sec-WebSocket-Key",
                "Sec-WebSocket-Version",
                "Upgrade"
            ]),
            "{route}"
        );
        assert!(
            get["responses"]["101"]["content"].is_null(),
            "a 101 has no body: {route}"
        );
        let plain = get["responses"]["400"]["description"].as_str().unwrap();
        assert!(plain.contains("plain GET"), "{route}: {plain}");
        // What the document says a plain GET gets, it gets.
        let (status, body) = s.get(&real).await;
        assert_eq!(status, 400, "{route}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    }
    // The cursor's documented bound is the server's.
    let cursor = get_parameter(&doc["paths"][SOCKETS[1]]["get"], "cursor");
    let most = cursor["schema"]["maximum"].as_u64().unwrap();
    assert!(s
        .ws_with(&format!("{path}/events?cursor={most}"), |_| {})
        .await
        .is_ok());
    let refused = s
        .ws_with(&format!("{path}/events?cursor={}", most + 1), |_| {})
        .await;
    assert_eq!(refused.err(), Some(400));
    // An upgrade request with a body is refused: its body would be read as
    // the socket's frames.
    let with_body = s
        .ws_with(&format!("{path}/events"), |req| {
            req.headers_mut()
                .insert("content-length", "5".parse().unwrap());
        })
        .await;
    assert_eq!(with_body.err(), Some(400));
}

fn get_parameter<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

#[tokio::test]
async fn a_link_leads_to_every_operation_that_takes_an_id() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let mut linked = BTreeSet::new();
    let mut needing = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            for answer in op["responses"].as_object().unwrap().values() {
                for link in answer["links"].as_object().into_iter().flatten() {
                    linked.insert(link.1["operationId"].as_str().unwrap().to_owned());
                }
            }
            if path.starts_with(WORKER) {
                needing.insert(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    let missing: Vec<_> = needing.difference(&linked).collect();
    assert!(missing.is_empty(), "no link leads to {missing:?}");
}
