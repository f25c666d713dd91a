//! Search across conversations and the transcript around a hit, across real
//! processes: `yoi serve` with a `local` runtime (its own process and
//! store) and a remote runtime that goes down, messages sent in the test
//! (the mock answers `You said: <text>`, so each input is two messages
//! holding its words), then `GET /api/search`, the per-worker search and
//! `GET .../transcript?around=` checked against exactly those messages.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::{json, Value};
use support::{Backend, RemoteRuntime, TempDir, TOKEN};
use yoi_test_support::MockOpenAi;

async fn run(b: &Backend, worker: &str, text: &str) {
    let (status, answer) = b
        .post(
            &format!("{worker}/input?wait=true"),
            json!({ "text": text }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

async fn search(b: &Backend, query: &str) -> Value {
    let (status, found) = b.get(&format!("/api/search?{query}")).await;
    assert_eq!(status, 200, "{query}: {found}");
    found
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hits(found: &Value) -> &Vec<Value> {
    found["hits"].as_array().unwrap()
}

/// The snippet's marked text of a hit, cut by its UTF-16 offsets.
fn marked(hit: &Value) -> Vec<String> {
    let text: Vec<u16> = hit["snippet"]["text"]
        .as_str()
        .unwrap()
        .encode_utf16()
        .collect();
    hit["snippet"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let (s, e) = (
                m["start"].as_u64().unwrap() as usize,
                m["end"].as_u64().unwrap() as usize,
            );
            String::from_utf16(&text[s..e]).unwrap()
        })
        .collect()
}

fn worker_id(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

async fn local_backend(mock: &MockOpenAi, tag: &str, extra: &str) -> Backend {
    let toml = format!("[[runtimes]]\nid = \"near\"\nkind = \"local\"\n{extra}");
    let b = Backend::start_in(TempDir::new(tag), &mock.base_url(), &toml, &[]).await;
    b.wait_runtime("near", "available").await;
    b
}

#[tokio::test]
async fn search_finds_words_in_the_backend_and_a_local_runtime_and_names_a_runtime_that_is_down() {
    let mock = MockOpenAi::start().await;
    // With a state directory: a runtime in memory keeps no history to search.
    let dir = TempDir::new("search-remote");
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let mut remote =
        RemoteRuntime::start_with(&mock.base_url(), "gpu", 0, dir, &["--state-dir", &state]).await;
    let extra = format!(
        "\n[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
        remote.url()
    );
    let toml = format!("[[runtimes]]\nid = \"near\"\nkind = \"local\"\n{extra}");
    let b = Backend::start_in(
        TempDir::new("search"),
        &mock.base_url(),
        &toml,
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    b.wait_runtime("near", "available").await;
    b.wait_runtime("gpu", "available").await;

    let here = b.create_worker("backend-internal").await;
    let near = b.create_worker("near").await;
    let far = b.create_worker("gpu").await;
    run(&b, &here, "the Zanzibar plan is ready").await;
    run(&b, &near, "what about zanzibar next week").await;
    run(&b, &far, "zanzibar from the remote").await;
    run(&b, &near, "nothing to see here").await;

    let found = search(&b, "q=ZANZIBAR").await;
    assert_eq!(found["missing"], json!([]));
    let all = hits(&found);
    assert_eq!(all.len(), 6, "{found}");
    let mut runtimes: Vec<&str> = all
        .iter()
        .map(|h| h["runtime_id"].as_str().unwrap())
        .collect();
    runtimes.sort_unstable();
    runtimes.dedup();
    assert_eq!(runtimes, ["backend-internal", "gpu", "near"]);
    for hit in all {
        assert_eq!(hit["display_name"], "helper");
        assert!(
            marked(hit)
                .iter()
                .all(|m| m.eq_ignore_ascii_case("zanzibar")),
            "{hit}"
        );
        assert!(!marked(hit).is_empty(), "{hit}");
    }
    let near_hits: Vec<&Value> = all.iter().filter(|h| h["runtime_id"] == "near").collect();
    assert_eq!(near_hits.len(), 2);
    assert!(near_hits.iter().all(|h| h["worker_id"] == worker_id(&near)));
    let roles: Vec<&str> = near_hits
        .iter()
        .map(|h| h["role"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"user") && roles.contains(&"assistant"));

    // Within one worker of the local runtime.
    let (status, mine) = b.get(&format!("{near}/search?q=zanzibar")).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(hits(&mine).len(), 2);
    let (_, none) = b.get(&format!("{here}/search?q=remote")).await;
    assert_eq!(hits(&none).len(), 0);

    // The remote runtime goes down: named, the others still answer.
    remote.proc.kill().await;
    b.wait_runtime("gpu", "unavailable").await;
    let partial = search(&b, "q=zanzibar").await;
    assert_eq!(partial["missing"], json!(["gpu"]));
    assert_eq!(hits(&partial).len(), 4);

    b.assert_no_leaks(&[remote.url()], &[]);
}

#[tokio::test]
async fn a_japanese_word_is_found_inside_a_sentence_and_a_new_message_at_once() {
    let mock = MockOpenAi::start().await;
    let b = local_backend(&mock, "search-ja", "").await;
    let near = b.create_worker("near").await;
    run(&b, &near, "明日の定例会議は午後三時に延期します").await;

    // Four characters: the trigram index.
    let found = search(&b, &format!("q={}", enc("定例会議"))).await;
    let user: Vec<&Value> = hits(&found)
        .iter()
        .filter(|h| h["role"] == "user")
        .collect();
    assert_eq!(user.len(), 1, "{found}");
    assert_eq!(marked(user[0]), ["定例会議"]);
    // Two characters: below a trigram, matched by LIKE on the newest messages.
    let short = search(&b, &format!("q={}", enc("会議"))).await;
    assert_eq!(hits(&short).len(), 2, "{short}");
    assert!(hits(&short).iter().all(|h| marked(h) == ["会議"]));
    // A short word beside a long one filters the index's hits.
    let both = search(&b, &format!("q={}", enc("定例会議 午後"))).await;
    assert_eq!(hits(&both).len(), 2, "{both}");
    let neither = search(&b, &format!("q={}", enc("定例会議 夜"))).await;
    assert_eq!(hits(&neither).len(), 0, "{neither}");

    // A message accepted a moment ago (its run still going) is found now.
    let (status, accepted) = b
        .post(
            &format!("{near}/input"),
            json!({ "text": "brand-new quokka [[slow]]" }),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let fresh = search(&b, "q=quokka").await;
    let fresh_user: Vec<&Value> = hits(&fresh)
        .iter()
        .filter(|h| h["role"] == "user")
        .collect();
    assert_eq!(fresh_user.len(), 1, "{fresh}");
    assert_eq!(fresh_user[0]["message_id"], accepted["message_id"]);
}

#[tokio::test]
async fn a_stopped_workers_history_is_found_and_opened_in_context() {
    let mock = MockOpenAi::start().await;
    let b = local_backend(&mock, "search-stopped", "").await;
    let near = b.create_worker("near").await;
    run(&b, &near, "remember the wombat").await;
    let (status, gone) = b.delete(&near).await;
    assert!(status == 200 || status == 204, "{status} {gone}");

    let found = search(&b, "q=wombat").await;
    let user = hits(&found)
        .iter()
        .find(|h| h["role"] == "user")
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(user["worker_id"], worker_id(&near));
    let (status, page) = b
        .get(&format!(
            "{near}/transcript?around={}&limit=5",
            user["message_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    assert_eq!(page["truncated"], false);
    assert_eq!(page["newer"], false);
}

#[tokio::test]
async fn search_pages_follow_next_after_across_runtimes() {
    let mock = MockOpenAi::start().await;
    let b = local_backend(&mock, "search-pages", "").await;
    let here = b.create_worker("backend-internal").await;
    let near = b.create_worker("near").await;
    for i in 0..3 {
        run(&b, &here, &format!("platypus here {i}")).await;
        run(&b, &near, &format!("platypus near {i}")).await;
    }
    let mut seen = Vec::new();
    let mut query = "q=platypus&limit=5".to_owned();
    let mut pages = 0;
    loop {
        let page = search(&b, &query).await;
        pages += 1;
        assert!(hits(&page).len() <= 5);
        seen.extend(
            hits(&page)
                .iter()
                .map(|h| h["message_id"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(after) => query = format!("q=platypus&limit=5&after={after}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 12);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 12, "a hit came twice: {seen:?}");
}

#[tokio::test]
async fn the_transcript_around_a_message_pages_both_ways_to_both_ends() {
    let mock = MockOpenAi::start().await;
    let b = local_backend(&mock, "search-around", "").await;
    let near = b.create_worker("near").await;
    for i in 0..4 {
        run(&b, &near, &format!("message {i}")).await;
    }
    let (_, all) = b.get(&format!("{near}/transcript")).await;
    let ids: Vec<String> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 8);
    let page_ids = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // The first message: nothing older, newer ones follow.
    let (status, first) = b
        .get(&format!("{near}/transcript?around={}&limit=3", ids[0]))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(page_ids(&first), ids[..3]);
    assert_eq!(first["truncated"], false);
    assert_eq!(first["newer"], true);
    // The last message: older ones before it, nothing newer.
    let (_, last) = b
        .get(&format!("{near}/transcript?around={}&limit=3", ids[7]))
        .await;
    assert_eq!(page_ids(&last), ids[5..]);
    assert_eq!(last["truncated"], true);
    assert_eq!(last["newer"], false);
    // In the middle, then on with after= and before=.
    let (_, middle) = b
        .get(&format!("{near}/transcript?around={}&limit=3", ids[4]))
        .await;
    assert_eq!(page_ids(&middle), ids[3..6]);
    let (_, later) = b
        .get(&format!("{near}/transcript?after={}&limit=10", ids[5]))
        .await;
    assert_eq!(page_ids(&later), ids[6..]);
    assert_eq!(later["newer"], false);
    let (_, earlier) = b
        .get(&format!("{near}/transcript?before={}&limit=10", ids[3]))
        .await;
    assert_eq!(page_ids(&earlier), ids[..3]);

    // A message of another worker is not this worker's.
    let other = b.create_worker("near").await;
    let (status, err) = b
        .get(&format!("{other}/transcript?around={}", ids[0]))
        .await;
    assert_eq!(status, 404, "{err}");
}

#[tokio::test]
async fn bad_queries_answer_typed_errors_and_search_syntax_is_only_text() {
    let mock = MockOpenAi::start().await;
    let b = local_backend(&mock, "search-bad", "").await;
    let near = b.create_worker("near").await;
    run(&b, &near, "he said \"NEAR(x y)\" and a*b: c OR d").await;

    // Search syntax in the words is text to find, never a 500.
    for q in [
        "\"",
        "\"\"",
        "*",
        ":",
        "NEAR(",
        "(",
        ")",
        "a*b:",
        "OR",
        "AND NOT",
        "^x",
        "col:val",
        "\"NEAR(x",
        "'; DROP TABLE messages; --",
        "%_\\",
        "\u{0}",
    ] {
        let (status, found) = b.get(&format!("/api/search?q={}", enc(q))).await;
        assert_eq!(status, 200, "{q:?}: {found}");
    }
    let quoted = search(&b, &format!("q={}", enc("\"NEAR(x"))).await;
    assert_eq!(hits(&quoted).len(), 2, "{quoted}");
    assert_eq!(marked(&hits(&quoted)[0]), ["\"NEAR(x"]);

    for (query, code) in [
        ("", "query_empty"),
        ("q=", "query_empty"),
        ("q=%20%20%09", "query_empty"),
        (&*format!("q={}", "a".repeat(10 * 1024)), "query_too_long"),
        ("q=x&limit=0", "invalid_input"),
        ("q=x&limit=101", "invalid_input"),
        ("q=x&after=nope", "invalid_input"),
        ("q=x&after=o01", "invalid_input"),
    ] {
        let (status, err) = b.get(&format!("/api/search?{query}")).await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["code"], code, "{query}");
        let (status, err) = b.get(&format!("{near}/search?{query}")).await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["code"], code, "{query}");
    }
    let (status, err) = b.get(&format!("{near}/transcript?around=nope")).await;
    assert_eq!(status, 400, "{err}");
}
