//! The ordering rules of the relay, now that a run task appends its deltas
//! to the event log itself while the Worker actor ends runs (issue 24):
//! every subscriber sees the identical sequence, gapless, each `seq` made
//! once; no delta follows a run's terminal event; the text a client
//! streamed is exactly the text the run kept. Real Runtime and Worker
//! actors, the mock provider streaming as fast as it can, and cancels,
//! completions and new subscribers at pseudo-random points (a fixed seed,
//! so that a failure repeats).

// Tests and their helpers may panic: a panic is a failed test. The test
// reads as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::sync::Arc;

use worker_runtime::testing::next;
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig, WorkerStream};
use yoi_protocol::{
    CreateWorker, EventKind, InputRequest, MessageState, RunId, RuntimeId, Seq, TranscriptPage,
};
use yoi_test_support::{MockOpenAi, Reply};

const ROUNDS: usize = 24;
/// Subscribers that watch from the start, read at once.
const WATCHERS: usize = 4;

/// A small xorshift: the points where the test acts, repeatable.
struct Points(u64);

impl Points {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Frames until the run's terminal event and the `status` after it.
async fn until_idle(sub: &mut WorkerStream, run_id: RunId) -> Vec<Arc<EventFrame>> {
    let mut out = Vec::new();
    let mut ended = false;
    loop {
        let f = next(sub).await;
        let done = ended && matches!(f.event.kind, EventKind::Status { .. });
        ended |= f.event.is_terminal() && run_of(&f) == Some(run_id);
        out.push(f);
        if done {
            return out;
        }
    }
}

fn run_of(f: &EventFrame) -> Option<RunId> {
    match &f.event.kind {
        EventKind::AssistantDelta { run_id, .. }
        | EventKind::RunCompleted { run_id, .. }
        | EventKind::RunFailed { run_id, .. }
        | EventKind::RunCancelled { run_id, .. }
        | EventKind::AssistantMessage { run_id, .. } => Some(*run_id),
        _ => None,
    }
}

/// What one subscriber saw of one run: checked against the rules, and its
/// frames by `seq` for the comparison across subscribers.
fn check_one(frames: &[Arc<EventFrame>], run_id: RunId, seen: &mut HashMap<u64, Arc<str>>) {
    let mut last: Option<u64> = None;
    let mut terminal = false;
    for f in frames {
        if f.event.is_snapshot() {
            // A reset (lagged) starts the count again from its `seq`.
            last = Some(f.seq().0);
            continue;
        }
        let seq = f.seq().0;
        if let Some(prev) = last {
            assert_eq!(seq, prev + 1, "a gap or a repeat after seq {prev}");
        }
        last = Some(seq);
        match seen.get(&seq) {
            Some(json) => assert_eq!(json, &f.json, "two subscribers saw seq {seq} differently"),
            None => {
                seen.insert(seq, f.json.clone());
            }
        }
        let delta =
            matches!(&f.event.kind, EventKind::AssistantDelta { run_id: r, .. } if *r == run_id);
        assert!(
            !(terminal && delta),
            "a delta of run {run_id} followed its terminal event"
        );
        terminal |= f.event.is_terminal() && run_of(f) == Some(run_id);
    }
    assert!(terminal, "the run's terminal event arrived");
}

/// The text of the run's deltas, and the text of its closing message.
fn streamed_and_kept(frames: &[Arc<EventFrame>], run_id: RunId) -> (String, String) {
    let mut streamed = String::new();
    let mut kept = None;
    for f in frames {
        match &f.event.kind {
            EventKind::AssistantDelta { run_id: r, text } if *r == run_id => {
                streamed.push_str(text);
            }
            EventKind::AssistantMessage { run_id: r, message } if *r == run_id => {
                kept = Some(message.text.clone());
            }
            _ => {}
        }
    }
    (streamed, kept.expect("the run's message closed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_sees_one_sequence_and_no_delta_follows_a_run_end() {
    let mock = MockOpenAi::start().await;
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.model = "mock-model".into();
    let rt = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .expect("runtime starts");
    let w = rt
        .create_worker(CreateWorker::default())
        .await
        .expect("worker created")
        .summary
        .worker_id;
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut sub = rt.subscribe(w, None).await.unwrap();
        next(&mut sub).await;
        watchers.push(sub);
    }
    // Read only at the end of each round: it falls behind and catches up
    // from the ring (or is reset), never sees another order.
    let mut laggard = rt.subscribe(w, None).await.unwrap();
    let mut points = Points(0x9e37_79b9_7f4a_7c15);
    for round in 0..ROUNDS {
        let cancel = round % 2 == 0;
        let tokens = (0..3_000).map(move |i| format!("r{round}t{i} "));
        mock.push(if cancel {
            Reply::tokens(tokens).then_hang()
        } else {
            Reply::tokens(tokens.take(1 + points.below(400) as usize))
        });
        let accepted = rt
            .input(
                w,
                InputRequest {
                    text: format!("round {round}"),
                    client_message_id: None,
                    on_busy: None,
                },
            )
            .await
            .unwrap();
        let run_id = accepted.run_id;
        // A subscriber resumes from a cursor a little behind, mid-stream.
        let mut read = Vec::new();
        let mut deltas = 0;
        let wanted = 1 + points.below(300);
        while deltas < wanted {
            let f = next(&mut watchers[0]).await;
            deltas += u64::from(matches!(f.event.kind, EventKind::AssistantDelta { .. }));
            let done = f.event.is_terminal();
            read.push(f);
            if done {
                break;
            }
        }
        let at = read.last().map_or(accepted.seq, |f| f.seq());
        let behind = Seq(at.0.saturating_sub(points.below(40)));
        let mut resumed = rt.subscribe(w, Some(behind)).await.unwrap();
        if cancel {
            rt.cancel(w).await.unwrap();
        }
        let mut seen = HashMap::new();
        if !read.last().is_some_and(|f| f.event.is_terminal()) {
            read.extend(until_idle(&mut watchers[0], run_id).await);
        } else {
            read.push(next(&mut watchers[0]).await);
        }
        check_one(&read, run_id, &mut seen);
        let from_start = read
            .iter()
            .position(
                |f| matches!(f.event.kind, EventKind::RunStarted { run_id: r, .. } if r == run_id),
            )
            .expect("the watcher saw the run start");
        let (streamed, kept) = streamed_and_kept(&read[from_start..], run_id);
        assert_eq!(
            streamed, kept,
            "round {round}: the streamed text is the kept text"
        );
        for sub in &mut watchers[1..] {
            let frames = until_idle(sub, run_id).await;
            check_one(&frames, run_id, &mut seen);
        }
        let frames = until_idle(&mut resumed, run_id).await;
        check_one(&frames, run_id, &mut seen);
        let frames = until_idle(&mut laggard, run_id).await;
        check_one(&frames, run_id, &mut seen);
        let page = rt.transcript(w, TranscriptPage::newest(1)).await.unwrap();
        let last = page.messages.last().expect("the answer is kept");
        assert_eq!(
            last.text, kept,
            "round {round}: the transcript keeps what streamed"
        );
        let state = if cancel {
            MessageState::Cancelled
        } else {
            MessageState::Complete
        };
        assert_eq!(last.state, state, "round {round}");
        mock.wait_for_open_streams(0).await;
    }
}
