//! Streamed response bodies that can pause, hang, or kill the connection.
//!
//! A body is a script of [`Step`]s played by a `futures` stream handed to
//! `Body::from_stream`. Two details matter:
//!
//! - To cut a connection the stream yields an `Err`: hyper then closes the socket
//!   without writing the chunked-encoding terminator, which is what a crashed or
//!   unplugged provider looks like to the client. Before that, the stream yields once
//!   so hyper flushes the chunks already written instead of discarding them with the
//!   connection.
//! - Each body holds an [`OpenStream`] guard. Hyper drops the body when the response
//!   ends or the client goes away, so the guard's count of open streams is exact.
//!
//! Every wait also listens for the mock's shutdown, so dropping the mock never leaves
//! a connection hanging.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::watch;

/// One step of a body script.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send these bytes.
    Send(Bytes),
    /// Pause.
    Wait(Duration),
    /// Send nothing more, ever (until the client or the mock goes away).
    Hang,
    /// Drop the connection abruptly.
    Cut,
}

/// Counts one open streamed body for as long as it lives.
pub(crate) struct OpenStream {
    count: Arc<watch::Sender<usize>>,
}

impl OpenStream {
    pub(crate) fn new(count: Arc<watch::Sender<usize>>) -> OpenStream {
        count.send_modify(|n| *n += 1);
        OpenStream { count }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Resolves once the mock is dropped: the sender never sends, so `changed` only
/// returns when it is gone.
pub(crate) async fn shut_down(shutdown: &mut watch::Receiver<()>) {
    while shutdown.changed().await.is_ok() {}
}

struct Script {
    steps: VecDeque<Step>,
    shutdown: watch::Receiver<()>,
    _open: OpenStream,
}

/// A body that plays `steps`.
pub(crate) fn scripted(steps: Vec<Step>, shutdown: watch::Receiver<()>, open: OpenStream) -> Body {
    let script = Script {
        steps: steps.into(),
        shutdown,
        _open: open,
    };
    let stream = futures::stream::unfold(script, |mut script| async move {
        loop {
            match script.steps.pop_front()? {
                Step::Send(bytes) => return Some((Ok(bytes), script)),
                Step::Wait(delay) => {
                    let stopped = tokio::select! {
                        () = tokio::time::sleep(delay) => false,
                        () = shut_down(&mut script.shutdown) => true,
                    };
                    if stopped {
                        return Some((Err(abort("mock server shut down")), script.finished()));
                    }
                }
                Step::Hang => {
                    shut_down(&mut script.shutdown).await;
                    return Some((Err(abort("mock server shut down")), script.finished()));
                }
                Step::Cut => {
                    // Let hyper flush what it buffered before the connection dies.
                    tokio::task::yield_now().await;
                    return Some((Err(abort("mock connection cut")), script.finished()));
                }
            }
        }
    });
    Body::from_stream(stream)
}

impl Script {
    fn finished(mut self) -> Script {
        self.steps.clear();
        self
    }
}

fn abort(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why)
}
