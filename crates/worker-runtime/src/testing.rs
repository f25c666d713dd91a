//! For tests that drive a real runtime (feature `test-hooks`, which only
//! dev-dependencies turn on): reading a worker's subscription frame by frame.

// A panic here is a failed test, said in words.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use yoi_protocol::EventKind;

use crate::{EventFrame, WorkerStream};

/// How long a test waits for the next frame before it fails: the longest
/// any of these tests waited when each had its own copy (a store that
/// cannot write retries for a while).
pub const WAIT: Duration = Duration::from_secs(60);

/// The subscription's next frame. Panics when none comes within [`WAIT`]
/// or the subscription ended.
pub async fn next(sub: &mut WorkerStream) -> Arc<EventFrame> {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("an event arrives in time")
        .expect("the subscription is open")
}

/// Frames until one whose kind matches `stop`, that one included.
pub async fn until(
    sub: &mut WorkerStream,
    stop: impl Fn(&EventKind) -> bool,
) -> Vec<Arc<EventFrame>> {
    let mut out = Vec::new();
    loop {
        let frame = next(sub).await;
        let done = stop(&frame.event.kind);
        out.push(frame);
        if done {
            return out;
        }
    }
}

/// Frames until a run's terminal event, that one included.
pub async fn until_terminal(sub: &mut WorkerStream) -> Vec<Arc<EventFrame>> {
    until(sub, EventKind::is_terminal).await
}
