//! A client's Close is answered at once on a real `yoi serve`, on sockets
//! resumed from a cursor a few dozen events behind a worker that streams as
//! fast as the provider sends, on the backend's own runtime and through a
//! local runtime, whatever the client did before closing: nothing, read one
//! frame, or read slowly for a while so that frames pile up (issue 21).
//!
//! The last test closes the way the reporter's client did: Python's
//! `websocket-client` sends its Close and then reads and discards frames, at
//! an interpreter's pace, until the Close reply comes or 3 s pass. Every
//! frame the server queued before it read the Close is ahead of the reply,
//! and the kernel let it queue megabytes per socket: the reporter's client
//! waited out its 3 s. The server now keeps what it queues per socket small
//! (`yoi_http::tcp`, the socket's write buffer).

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Backend, WAIT};
use yoi_test_support::{MockOpenAi, Pace, Reply};

const CLOSE_NORMAL: u16 = 1000;
/// How far behind the live edge each resumed socket starts.
const BEHIND: u64 = 50;
const TRIES: usize = 10;
/// "At once" is the contract; this bound only fails the test. It is far
/// below the 3 s the issue saw, and loose enough for a loaded machine.
const CLOSE_ANSWERED_WITHIN: Duration = Duration::from_millis(1000);

/// Short tokens with no pause, then the stream stays open: the run is in
/// flight on every try however fast the machine streams.
fn endless() -> Reply {
    endless_of(200_000)
}

fn endless_of(tokens: usize) -> Reply {
    Reply::tokens((0..tokens).map(|i| format!("{} ", i % 10))).then_hang()
}

async fn live_edge(b: &Backend, path: &str, after: u64) -> u64 {
    tokio::time::timeout(WAIT, async {
        loop {
            let (status, page) = b.get(&format!("{path}/transcript?limit=1")).await;
            assert_eq!(status, 200, "{page}");
            let seq = page["seq"].as_u64().unwrap();
            if seq > after + BEHIND {
                return seq;
            }
        }
    })
    .await
    .expect("the run streams")
}

async fn close_ten_resumed_sockets(b: &Backend, path: &str) {
    let (status, accepted) = b
        .post(&format!("{path}/input"), json!({"text": "go"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let started = accepted["seq"].as_u64().unwrap();
    for attempt in 1..=TRIES {
        let edge = live_edge(b, path, started).await;
        let mut ws = b
            .ws(&format!("{path}/events?cursor={}", edge - BEHIND))
            .await;
        match attempt % 3 {
            0 => {}
            1 => {
                // The resumed event, or a snapshot when the stream ran past
                // the ring between reading the edge and connecting (a slow
                // machine: thousands of events can pass in that moment).
                let first = ws.frame().await;
                assert!(
                    first["seq"].as_u64() == Some(edge - BEHIND + 1) || first["type"] == "snapshot",
                    "try {attempt}: the first frame neither resumes nor is a snapshot: {}",
                    first["type"]
                );
            }
            // A slow reader: frames pile up in the server while it reads.
            // It reads the frames that surely exist, those between the
            // cursor and the edge (the stream's tokens may all be sent by
            // now: a loaded machine merges many into one event), or stops
            // at a snapshot (the cursor fell out of the ring).
            _ => {
                for _ in 0..BEHIND {
                    let frame = ws.frame().await;
                    if frame["type"] == "snapshot" {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let ending = tokio::time::timeout(CLOSE_ANSWERED_WITHIN, ws.close_handshake())
            .await
            .unwrap_or_else(|_| {
                panic!("{path} try {attempt}: no Close within {CLOSE_ANSWERED_WITHIN:?}")
            });
        assert_eq!(
            ending.close_code,
            Some(CLOSE_NORMAL),
            "try {attempt}: {ending:?}"
        );
        let (_, worker) = b.get(path).await;
        assert_eq!(
            worker["status"], "running",
            "try {attempt}: the run ended early"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_is_answered_at_once_by_yoi_serve_on_sockets_resumed_behind_a_fast_stream() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mock = MockOpenAi::start().await;
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    let (_, companion) = b.get("/api/companion").await;
    let path = format!(
        "/api/runtimes/{}/workers/{}",
        companion["runtime_id"].as_str().unwrap(),
        companion["worker_id"].as_str().unwrap()
    );
    mock.push(endless());
    close_ten_resumed_sockets(&b, &path).await;
    // The Companion's stream would go on beside the next one: stop it, so
    // that the local runtime's worker does not share the machine with it.
    let (status, cancelled) = b.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(status, 202, "{cancelled}");

    b.wait_runtime("near", "available").await;
    let local = b.create_worker("near").await;
    mock.push(endless());
    close_ten_resumed_sockets(&b, &local).await;
}

/// Python's `websocket-client` 1.9 on a 2-core machine took 30 µs (idle) to
/// 120 µs (busy) a small frame, and more a KiB of a large one than this.
fn interpreter_pace() -> Pace {
    Pace::new(Duration::from_micros(100), Duration::from_micros(250))
}

/// Before closing, the client does something slow with each frame (prints
/// it, say): the stream outruns it and the server queues what it can.
fn busy_client_pace() -> Pace {
    Pace::new(Duration::from_millis(5), Duration::ZERO)
}

/// Every reply must come before that client's own 3 s timeout: this bound
/// only fails the test. Before the fix a reply was behind 0.8 to 2.5 MB and
/// took 1.1 to 3.0 s (10 tries on a 2-core machine); after it, behind about
/// 190 KB (the client's own receive buffer, which no server can take back)
/// and 0.2 to 0.3 s, now and then up to 1 s when the client's buffer grew.
const PACED_CLOSE_WITHIN: Duration = Duration::from_millis(2000);
/// What tells the two apart on a loaded machine: the middle of the ten
/// tries. The issue asks for 250 ms on an idle one; most of the time here is
/// the paced client parsing its own buffer, so the bound is looser (before
/// the fix the middle try took about 1.7 s).
const PACED_CLOSE_MEDIAN: Duration = Duration::from_millis(1000);

/// The tests of this file measure how soon a reply comes: they take turns,
/// so that one's endless stream does not slow the other's machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_is_answered_promptly_to_a_client_that_discards_frames_slowly_until_the_reply() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mock = MockOpenAi::start().await;
    let b = Backend::start(&mock.base_url(), "", &[]).await;
    let mut took = Vec::new();
    for attempt in 1..=TRIES {
        // A stream of its own each try: one stream's tokens could all be
        // sent before the last try on a slow machine.
        let path = b.create_worker("backend-internal").await;
        mock.push(endless_of(50_000));
        let (status, accepted) = b
            .post(&format!("{path}/input"), json!({"text": "go"}))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let started = accepted["seq"].as_u64().unwrap();
        let edge = live_edge(&b, &path, started).await;
        let mut ws = b
            .ws(&format!("{path}/events?cursor={}", edge - BEHIND))
            .await;
        // A slow client: the stream outruns it, so frames pile up in the
        // server while it reads those that surely exist.
        let mut pace = busy_client_pace();
        for _ in 0..BEHIND {
            if ws.frame_paced(&mut pace).await["type"] == "snapshot" {
                break;
            }
        }
        let closing = std::time::Instant::now();
        let (ending, discarded) =
            tokio::time::timeout(PACED_CLOSE_WITHIN, ws.close_paced(interpreter_pace()))
                .await
                .unwrap_or_else(|_| {
                    panic!("try {attempt}: no Close within {PACED_CLOSE_WITHIN:?}")
                });
        assert_eq!(
            ending.close_code,
            Some(CLOSE_NORMAL),
            "try {attempt}: {ending:?}"
        );
        took.push(closing.elapsed());
        eprintln!(
            "try {attempt}: Close after {:?}, {} frames, {discarded} bytes before it",
            closing.elapsed(),
            ending.frames_before
        );
        let (_, worker) = b.get(&path).await;
        assert_eq!(
            worker["status"], "running",
            "try {attempt}: the run ended early"
        );
        let (status, cancelled) = b.post(&format!("{path}/cancel"), json!({})).await;
        assert_eq!(status, 202, "{cancelled}");
    }
    took.sort();
    let median = took[TRIES / 2];
    assert!(
        median <= PACED_CLOSE_MEDIAN,
        "the middle try's Close took {median:?} (all: {took:?})"
    );
}
