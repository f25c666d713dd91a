//! The workspace store with real `yoi serve` processes: SIGKILL at random
//! moments of streaming runs loses no accepted message and no completed run,
//! hands out no `seq` twice, and forgets no `client_message_id`; one process owns a workspace; a damaged
//! database stops `yoi serve`; workers saved as JSON by earlier versions are
//! imported.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::{json, Value};
use support::{provider_env, Backend, TempDir, WAIT};
use yoi_test_support::{MockOpenAi, Reply};

/// A small deterministic generator, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The input of a round; the mock echoes it back word by word.
fn input_text(round: usize) -> String {
    let words: Vec<String> = (0..24).map(|k| format!("r{round}w{k}")).collect();
    format!("message {round} {}", words.join(" "))
}

/// The whole answer to a round's input.
fn answer_text(round: usize) -> String {
    format!("You said: {}", input_text(round))
}

/// What the client knows: every event it applied, by `seq`, and its cursor.
#[derive(Default)]
struct Client {
    events: HashMap<u64, Value>,
    cursor: Option<u64>,
}

impl Client {
    /// Applies a frame; a `seq` seen before must carry the same event.
    fn apply(&mut self, frame: &Value, seed: u64) {
        let seq = frame["seq"].as_u64().unwrap();
        if frame["type"] == "snapshot" {
            if frame["reset"] == true {
                // A reset starts over from the snapshot: a new baseline.
                self.cursor = Some(seq);
            } else {
                self.cursor = Some(self.cursor.map_or(seq, |c| c.max(seq)));
            }
            return;
        }
        let mut event = frame.clone();
        event.as_object_mut().unwrap().remove("at");
        if let Some(earlier) = self.events.get(&seq) {
            assert_eq!(
                earlier, &event,
                "seq {seq} was handed out twice with different events (seed {seed})"
            );
        }
        if let Some(cursor) = self.cursor {
            assert!(
                seq == cursor + 1 || seq <= cursor,
                "a gap after cursor {cursor}: got seq {seq} (seed {seed})"
            );
        }
        self.events.insert(seq, event);
        self.cursor = Some(self.cursor.map_or(seq, |c| c.max(seq)));
    }
}

async fn companion(b: &Backend) -> String {
    let (status, c) = b.get("/api/companion").await;
    assert_eq!(status, 200, "{c}");
    format!(
        "/api/runtimes/{}/workers/{}",
        c["runtime_id"].as_str().unwrap(),
        c["worker_id"].as_str().unwrap()
    )
}

fn events_path(worker: &str, cursor: Option<u64>) -> String {
    match cursor {
        Some(c) => format!("{worker}/events?cursor={c}"),
        None => format!("{worker}/events"),
    }
}

/// One round: input, read a random number of frames, SIGKILL, restart,
/// resume from the cursor held. Returns the restarted backend.
async fn round(
    mut b: Backend,
    mock: &MockOpenAi,
    client: &mut Client,
    rng: &mut Rng,
    round: usize,
    seed: u64,
) -> (Backend, String) {
    let worker = companion(&b).await;
    let mut socket = b.ws(&events_path(&worker, client.cursor)).await;
    let text = input_text(round);
    let body = json!({"text": text, "client_message_id": format!("round-{round}")});
    let (status, accepted) = b.post(&format!("{worker}/input"), body.clone()).await;
    assert_eq!(status, 202, "{accepted}");
    let frames_before_kill = rng.below(40);
    let mut read = 0;
    while read < frames_before_kill {
        let Some(f) = socket.next().await else { break };
        client.apply(&f, seed);
        read += 1;
        if f["type"] == "status" && f["status"] == "idle" && read > 1 {
            break;
        }
    }
    b.proc.kill().await;
    drop(socket);
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);
    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    // Resume from the cursor held: exactly the missed events, or a reset.
    let held = client.cursor;
    let mut socket = b.ws(&events_path(&worker, held)).await;
    let first = socket.frame().await;
    client.apply(&first, seed);
    if first["type"] == "snapshot" {
        if held.is_some() {
            assert_eq!(
                first["reset"], true,
                "a resume never starts with a plain snapshot"
            );
        }
        let t = first["worker"]["status"].as_str().unwrap();
        assert_eq!(t, "idle", "a restored worker is idle (seed {seed})");
    } else {
        // Replayed events continue the run to its end.
        let mut f = first;
        while !(f["type"] == "status" && f["status"] == "idle") {
            f = socket.frame().await;
            client.apply(&f, seed);
        }
    }
    socket.close().await;
    // The client retries its input as after a lost answer: the same answer,
    // and nothing runs (`check_history` finds each input once).
    let (status, again) = b.post(&format!("{worker}/input"), body).await;
    assert_eq!(status, 202, "{again} (seed {seed})");
    assert_eq!(again["run_id"], accepted["run_id"], "(seed {seed})");
    assert_eq!(again["message_id"], accepted["message_id"], "(seed {seed})");
    let (_, detail) = b.get(&worker).await;
    assert_eq!(
        detail["status"], "idle",
        "a retry starts no run (seed {seed})"
    );
    (b, worker)
}

/// Every accepted input is in the history once, with its run's answer:
/// complete with the whole text, or failed by the restart with a prefix.
/// Returns how many runs completed and how many a restart cut short.
async fn check_history(b: &Backend, worker: &str, rounds: usize, seed: u64) -> (usize, usize) {
    let (mut complete, mut cut) = (0, 0);
    let (status, t) = b.get(&format!("{worker}/transcript?limit=1000")).await;
    assert_eq!(status, 200, "{t}");
    let messages = t["messages"].as_array().unwrap();
    for r in 0..rounds {
        let text = input_text(r);
        let users: Vec<&Value> = messages
            .iter()
            .filter(|m| m["role"] == "user" && m["text"] == text)
            .collect();
        assert_eq!(users.len(), 1, "`{text}` is kept once (seed {seed})");
        let run = users[0]["run_id"].clone();
        let answer = messages
            .iter()
            .find(|m| m["role"] == "assistant" && m["run_id"] == run)
            .unwrap_or_else(|| panic!("run of `{text}` has its answer (seed {seed})"));
        let full = answer_text(r);
        let got = answer["text"].as_str().unwrap();
        match answer["state"].as_str().unwrap() {
            "complete" => {
                assert_eq!(got, full, "a completed run is kept whole");
                complete += 1;
            }
            "failed" => {
                cut += 1;
                assert!(full.starts_with(got), "kept text is what streamed: {got}");
                assert_eq!(answer["error"]["code"], "internal");
                let why = answer["error"]["message"].as_str().unwrap();
                assert!(why.contains("restart"), "{why}");
            }
            other => panic!("run of `{text}` ended {other} (seed {seed})"),
        }
    }
    (complete, cut)
}

#[tokio::test]
async fn killing_yoi_serve_at_random_moments_loses_nothing_and_reuses_no_seq() {
    const ROUNDS: usize = 50;
    let seed = std::env::var("YOI_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    let mut rng = Rng(seed);
    let mock = MockOpenAi::start().await;
    // Each run echoes its input, a word every few milliseconds: a run that
    // was cut short cannot take another's answer.
    mock.set_default(Reply::echo().token_delay(std::time::Duration::from_millis(3)));
    let mut b = Backend::start(&mock.base_url(), "", &[]).await;
    let mut client = Client::default();
    let mut worker = String::new();
    for r in 0..ROUNDS {
        (b, worker) = round(b, &mock, &mut client, &mut rng, r, seed).await;
    }
    let (complete, cut) = check_history(&b, &worker, ROUNDS, seed).await;
    // The kills landed both mid-run and after runs had ended.
    assert!(
        complete > 0 && cut > 0,
        "{complete} complete, {cut} cut short"
    );
    // A new client sees the same history as the one that lived through it.
    let (_, t) = b.get(&format!("{worker}/transcript?limit=1000")).await;
    assert_eq!(t["messages"].as_array().unwrap().len(), ROUNDS * 2);
    b.assert_no_leaks(&[], &[]);
}

#[tokio::test]
async fn a_second_yoi_serve_on_a_workspace_refuses_and_a_killed_one_leaves_no_lock() {
    let mock = MockOpenAi::start().await;
    let mut first = Backend::start(&mock.base_url(), "", &[]).await;
    let second = support::Proc::spawn(
        &["serve"],
        first.workspace.path(),
        &provider_env(&mock.base_url()),
    );
    let out = second.wait_for_output("another yoi process").await;
    assert!(out.contains("yoi.lock"), "{out}");
    let mut second = second;
    let status = tokio::time::timeout(WAIT, second.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    first.proc.kill().await;
    let workspace = std::mem::replace(&mut first.workspace, TempDir::new("unused"));
    drop(first);
    let again = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let (status, _) = again.get("/api/companion").await;
    assert_eq!(status, 200);
}

/// `yoi serve` on a workspace whose database is `bytes`: it must stop with a
/// clear message and leave the file as it was.
async fn refuses_damaged(bytes: &[u8]) {
    let mock = MockOpenAi::start().await;
    let workspace = TempDir::new("damaged");
    std::fs::create_dir_all(workspace.path().join(".yoi")).unwrap();
    let db = workspace.path().join(".yoi").join("yoi.db");
    std::fs::write(&db, bytes).unwrap();
    std::fs::write(
        workspace.path().join("yoi.toml"),
        "bind = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut proc = support::Proc::spawn(
        &["serve"],
        workspace.path(),
        &provider_env(&mock.base_url()),
    );
    let status = tokio::time::timeout(WAIT, proc.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let out = proc.wait_for_output("cannot be used").await;
    assert!(out.contains("yoi.db"), "{out}");
    assert!(out.contains("backup"), "says what to do: {out}");
    assert!(!out.contains("open http"), "{out}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the file is left as it was"
    );
}

#[tokio::test]
async fn a_garbage_database_stops_yoi_serve() {
    refuses_damaged(&[0x5a; 8192]).await;
}

#[tokio::test]
async fn a_truncated_database_stops_yoi_serve() {
    // A real database, cut in the middle.
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("an answer to keep"));
    let mut b = Backend::start(&mock.base_url(), "", &[]).await;
    let worker = companion(&b).await;
    for i in 0..20 {
        let (status, _) = b
            .post(
                &format!("{worker}/input?wait=true"),
                json!({"text": format!("hello {i} {}", "x".repeat(2000))}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let stop = tokio::process::Command::new("kill")
        .args(["-TERM", &b.proc.pid().to_string()])
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(stop.success());
    tokio::time::timeout(WAIT, b.proc.child.wait())
        .await
        .unwrap()
        .unwrap();
    let db = b.workspace.path().join(".yoi").join("yoi.db");
    let bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 16 * 1024, "{} bytes", bytes.len());
    refuses_damaged(&bytes[..bytes.len() / 2]).await;
}

#[tokio::test]
async fn workers_saved_as_json_by_an_earlier_version_are_imported() {
    let mock = MockOpenAi::start().await;
    let workspace = TempDir::new("import");
    std::fs::write(
        workspace.path().join("yoi.toml"),
        "bind = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let dir = workspace.path().join(".yoi").join("workers");
    std::fs::create_dir_all(&dir).unwrap();
    let id = yoi_protocol::WorkerId::new().to_string();
    let run = yoi_protocol::RunId::new().to_string();
    let (m1, m2) = (
        yoi_protocol::MessageId::new().to_string(),
        yoi_protocol::MessageId::new().to_string(),
    );
    let saved = json!({
        "version": 1,
        "worker_id": id,
        "display_name": "companion",
        "profile": "companion",
        "created_at": "2026-11-01T10:00:00.000Z",
        "usage": {"runs": 1, "prompt_tokens": 7, "completion_tokens": 3},
        "last_seq": 9,
        "last_run": {"run_id": run, "state": "completed"},
        "transcript": [
            {"id": m1, "role": "user", "text": "remember me",
             "at": "2026-11-01T10:00:01.000Z", "run_id": run, "state": "complete"},
            {"id": m2, "role": "assistant", "text": "I will",
             "at": "2026-11-01T10:00:02.000Z", "run_id": run, "state": "complete"}
        ]
    });
    std::fs::write(dir.join(format!("{id}.json")), saved.to_string()).unwrap();
    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let (_, c) = b.get("/api/companion").await;
    assert_eq!(c["worker_id"], id, "the Companion keeps its id");
    let worker = companion(&b).await;
    let (_, t) = b.get(&format!("{worker}/transcript")).await;
    let texts: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["remember me", "I will"]);
    assert!(t["seq"].as_u64().unwrap() >= 9, "seq goes on: {t}");
    let (_, d) = b.get(&worker).await;
    assert_eq!(d["usage"]["runs"], 1);
    // The file was moved aside, not deleted.
    let yoi = b.workspace.path().join(".yoi");
    assert!(!yoi.join("workers").join(format!("{id}.json")).exists());
    assert!(yoi
        .join("imported-json")
        .join(format!("{id}.json"))
        .exists());
}
