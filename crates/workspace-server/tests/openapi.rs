//! `/api/openapi.json` describes exactly what is served: id patterns, body
//! bounds, every error status a route answers with the envelope, which
//! bodies are required. (The schemathesis stage of `scripts/test-all`
//! fuzzes the server against this document; these tests pin its shape.)

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::*;

const WORKER: &str = "/api/runtimes/{runtime_id}/workers/{worker_id}";

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

fn parameter<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

#[tokio::test]
async fn path_ids_have_the_patterns_the_server_checks() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    for (path, method, op) in operations(&doc) {
        if path.contains("{runtime_id}") {
            let p = parameter(&op, "runtime_id");
            assert_eq!(
                p["schema"]["pattern"], "^[a-z0-9][a-z0-9-]{0,63}$",
                "{method} {path}"
            );
        }
        if path.contains("{worker_id}") {
            let p = parameter(&op, "worker_id");
            assert_eq!(
                p["schema"]["pattern"], "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
                "{method} {path}"
            );
        }
    }
    // What the patterns refuse, the server refuses; what they allow, it takes.
    let path = s.companion_path().await;
    let lower = path.to_ascii_lowercase();
    let (status, _) = s.get(&lower).await;
    assert_eq!(status, 200, "a lowercase ULID is the same worker");
    for bad in [
        "/api/runtimes/-x/workers",
        "/api/runtimes/Backend/workers",
        "/api/runtimes/backend-internal/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XKU",
        "/api/runtimes/backend-internal/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XK",
    ] {
        let (status, body) = s.get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn every_error_status_is_documented_with_the_envelope() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let mut expected = vec!["400", "401", "403", "429", "500"];
        if path.starts_with("/api/runtimes/{runtime_id}") {
            expected.extend(["404", "503"]);
        }
        if op.get("requestBody").is_some() {
            expected.push("413");
        }
        for status in expected {
            let r = responses
                .get(status)
                .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
            assert_eq!(
                r["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorEnvelope",
                "{method} {path} {status}"
            );
        }
    }
}

#[tokio::test]
async fn bodies_have_their_bounds_and_only_input_requires_one() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let create = &doc["paths"]["/api/runtimes/{runtime_id}/workers"]["post"];
    assert_eq!(create["requestBody"]["required"], false);
    let input = &doc["paths"][format!("{WORKER}/input")]["post"];
    assert_eq!(input["requestBody"]["required"], true);
    let schemas = &doc["components"]["schemas"];
    let text = &schemas["InputRequest"]["properties"]["text"];
    assert_eq!(text["minLength"], 1);
    assert_eq!(text["maxLength"], 32768);
    assert!(text["pattern"].is_string());
    let id = &schemas["ClientMessageId"];
    assert_eq!(
        (id["minLength"].clone(), id["maxLength"].clone()),
        (json!(1), json!(128))
    );
    // A new worker's profile is one the backend offers (here, the Companion's).
    let profile = &schemas["CreateWorker"]["properties"]["profile"];
    assert_eq!(profile["enum"], json!(["companion", null]));
    let rename = &schemas["RenameWorker"]["properties"]["display_name"];
    assert!(rename["pattern"].is_string());
    let limit = parameter(
        &doc["paths"][format!("{WORKER}/transcript")]["get"],
        "limit",
    );
    assert_eq!(
        (
            limit["schema"]["minimum"].clone(),
            limit["schema"]["maximum"].clone()
        ),
        (json!(1), json!(1000))
    );

    // The server agrees: no body creates, an array is not an object.
    let (status, body) = s
        .post_raw("/api/runtimes/backend-internal/workers", "")
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .post_raw("/api/runtimes/backend-internal/workers", "[null, null]")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
}

#[tokio::test]
async fn a_created_worker_links_to_its_routes() {
    let s = Server::start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let ids: Vec<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let links = doc["paths"]["/api/runtimes/{runtime_id}/workers"]["post"]["responses"]["201"]
        ["links"]
        .as_object()
        .unwrap();
    assert_eq!(links.len(), 9);
    for link in links.values() {
        let target = link["operationId"].as_str().unwrap();
        assert!(
            ids.iter().any(|id| id == target),
            "{target} is an operation"
        );
        assert_eq!(link["parameters"]["worker_id"], "$response.body#/worker_id");
        assert_eq!(
            link["parameters"]["runtime_id"],
            "$response.body#/runtime_id"
        );
    }
}
