//! The two sockets the console observes through, kept open by their own tasks.
//!
//! **Worker feed.** Resolves the target (`GET /api/companion` or the worker's
//! detail), opens `.../events`, forwards every frame to the event loop, and
//! when the socket drops or the server is down, reports the state, waits
//! (exponential backoff) and tries again. Each reconnect passes the cursor the
//! console published: the highest `seq` it *applied*, read from a `watch`
//! channel the event loop writes after every update. Frames still queued when
//! the socket dropped may be sent again by the server; the console drops them
//! by `seq` (see [`crate::app::apply_worker_event`]). The Companion is looked
//! up again on every reconnect, so a server that restarted with a new
//! Companion is followed (without a cursor, which belonged to the old one).
//!
//! **Workspace feed.** `/api/events` for the worker picker: no cursor, a fresh
//! `workspace_snapshot` on every connect.
//!
//! Both send into the event loop's bounded channel with `send().await`: a
//! console that draws slowly slows the socket read, and the server, which
//! never drops events silently, answers a lagging subscriber with a reset
//! snapshot.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval, sleep, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use yoi_protocol::{ErrorCode, Seq, WorkerEvent, WorkerRef, WorkspaceEvent};

use crate::app::{AppEvent, FeedEvent, Target};
use crate::backoff::Backoff;
use crate::client::{ApiClient, ClientError};
use crate::picker::worker_ref;

/// We ping this often; a connection with no frame at all for `IDLE_LIMIT`
/// is taken as dead (a half-open TCP connection never errors by itself).
const PING_EVERY: Duration = Duration::from_secs(15);
const IDLE_LIMIT: Duration = Duration::from_secs(45);

/// A restarted server is usually back within a second or two.
const WORKER_BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(3));
const WORKSPACE_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_secs(10));

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How one connection ended.
enum Ended {
    /// Worth another try.
    Retry(ClientError),
    /// No point trying again (the worker is gone, the token is refused).
    Fatal(ClientError),
    /// The event loop is gone: the console is quitting.
    AppGone,
}

/// Keeps one worker's socket open until aborted. `cursor` is written by the
/// event loop with the highest `seq` it applied.
pub async fn worker_feed(
    client: ApiClient,
    target: Target,
    generation: u64,
    cursor: watch::Receiver<Option<Seq>>,
    tx: mpsc::Sender<AppEvent>,
) {
    let feed = WorkerFeed {
        client,
        target,
        generation,
        cursor,
        tx,
    };
    feed.run().await;
}

struct WorkerFeed {
    client: ApiClient,
    target: Target,
    generation: u64,
    cursor: watch::Receiver<Option<Seq>>,
    tx: mpsc::Sender<AppEvent>,
}

impl WorkerFeed {
    async fn emit(&self, event: FeedEvent) -> bool {
        self.tx
            .send(AppEvent::Feed {
                generation: self.generation,
                event,
            })
            .await
            .is_ok()
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new(WORKER_BACKOFF.0, WORKER_BACKOFF.1);
        let mut resolved: Option<WorkerRef> = None;
        let mut attempt: u32 = 1;
        loop {
            if attempt > 1 && !self.emit(FeedEvent::Connecting { attempt }).await {
                return;
            }
            let error = match self.connect_once(&mut resolved, &mut backoff).await {
                Ended::AppGone => return,
                Ended::Fatal(error) => {
                    self.emit(FeedEvent::GaveUp { error }).await;
                    return;
                }
                Ended::Retry(error) => error,
            };
            let delay = backoff.next_delay();
            let retrying = FeedEvent::Retrying {
                attempt,
                delay,
                error,
            };
            if !self.emit(retrying).await {
                return;
            }
            sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One look-up and one socket, until it ends.
    async fn connect_once(
        &mut self,
        resolved: &mut Option<WorkerRef>,
        backoff: &mut Backoff,
    ) -> Ended {
        let (summary, provider) = match &self.target {
            Target::Companion => match self.client.companion().await {
                Ok(info) => (info.summary, Some(info.provider)),
                Err(e) => return self.classify(e),
            },
            Target::Worker(r) => match self.client.worker(r).await {
                Ok(detail) => (detail.summary, None),
                Err(e) => return self.classify(e),
            },
        };
        let now = worker_ref(&summary);
        // A cursor belongs to one worker: a different Companion starts afresh.
        let same_worker = resolved.as_ref().is_none_or(|r| *r == now);
        *resolved = Some(now.clone());
        if !self
            .emit(FeedEvent::Resolved {
                worker: summary,
                provider,
            })
            .await
        {
            return Ended::AppGone;
        }
        let cursor = if same_worker {
            *self.cursor.borrow_and_update()
        } else {
            None
        };

        let request = match self.client.worker_events_request(&now, cursor) {
            Ok(r) => r,
            Err(e) => return Ended::Fatal(e),
        };
        let mut socket = match connect_async(request).await {
            Ok((socket, _response)) => socket,
            Err(e) => return self.classify(ClientError::from_socket(e)),
        };
        backoff.reset();
        if !self.emit(FeedEvent::Connected { cursor }).await {
            return Ended::AppGone;
        }
        let tx = self.tx.clone();
        let generation = self.generation;
        pump(&mut socket, |text| {
            let tx = tx.clone();
            async move {
                let Some(event) = parse_worker_frame(&text) else {
                    return true;
                };
                tx.send(AppEvent::Feed { generation, event }).await.is_ok()
            }
        })
        .await
    }

    fn classify(&self, error: ClientError) -> Ended {
        let fatal = match error.api().map(|e| e.code) {
            Some(
                ErrorCode::Unauthorized | ErrorCode::ForbiddenOrigin | ErrorCode::InvalidInput,
            ) => true,
            // An explicit worker that is gone stays gone; the Companion is
            // looked up again and may be another worker now.
            Some(ErrorCode::WorkerNotFound | ErrorCode::RuntimeNotFound) => {
                matches!(self.target, Target::Worker(_))
            }
            _ => false,
        };
        if fatal {
            Ended::Fatal(error)
        } else {
            Ended::Retry(error)
        }
    }
}

/// Reads text frames into `on_text` until the socket ends; pings on a timer
/// and gives up on a connection that stays silent.
async fn pump<F, Fut>(socket: &mut Socket, mut on_text: F) -> Ended
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut ping = interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ping.tick().await;
    let mut last_frame = Instant::now();
    loop {
        tokio::select! {
            frame = socket.next() => {
                last_frame = Instant::now();
                match frame {
                    None => return closed("the server closed the connection"),
                    Some(Err(e)) => return Ended::Retry(ClientError::from_socket(e)),
                    Some(Ok(WsMessage::Text(text))) => {
                        if !on_text(text.as_str().to_owned()).await {
                            return Ended::AppGone;
                        }
                    }
                    Some(Ok(WsMessage::Close(_))) => {
                        return closed("the server closed the connection")
                    }
                    // Pings are answered by tungstenite itself; pongs and
                    // binary frames only prove the connection is alive.
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if last_frame.elapsed() > IDLE_LIMIT {
                    return closed("no answer from the server");
                }
                if let Err(e) = socket.send(WsMessage::Ping(Vec::new().into())).await {
                    return Ended::Retry(ClientError::from_socket(e));
                }
            }
        }
    }
}

fn closed(reason: &str) -> Ended {
    Ended::Retry(ClientError::Unreachable(reason.to_owned()))
}

/// Just the fields every frame has, for frames of a kind we do not know.
#[derive(Deserialize)]
struct FrameHead {
    #[serde(default)]
    seq: Option<Seq>,
}

/// A worker frame, or its `seq` alone when its kind is newer than this
/// console. Frames that are not JSON objects at all are dropped.
pub fn parse_worker_frame(text: &str) -> Option<FeedEvent> {
    match serde_json::from_str::<WorkerEvent>(text) {
        Ok(event) => Some(FeedEvent::Frame(Box::new(event))),
        Err(_) => serde_json::from_str::<FrameHead>(text)
            .ok()
            .map(|head| FeedEvent::UnknownFrame { seq: head.seq }),
    }
}

/// Keeps the workspace socket open until aborted, feeding the picker.
pub async fn workspace_feed(client: ApiClient, tx: mpsc::Sender<AppEvent>) {
    let mut backoff = Backoff::new(WORKSPACE_BACKOFF.0, WORKSPACE_BACKOFF.1);
    loop {
        let ended = match client.workspace_events_request() {
            Err(_) => return,
            Ok(request) => match connect_async(request).await {
                Err(e) => Ended::Retry(ClientError::from_socket(e)),
                Ok((mut socket, _)) => {
                    backoff.reset();
                    let tx = tx.clone();
                    pump(&mut socket, |text| {
                        let tx = tx.clone();
                        async move {
                            // Unknown kinds are additions the picker can skip.
                            match serde_json::from_str::<WorkspaceEvent>(&text) {
                                Ok(event) => tx.send(AppEvent::Workspace(event)).await.is_ok(),
                                Err(_) => true,
                            }
                        }
                    })
                    .await
                }
            },
        };
        if matches!(ended, Ended::AppGone) || tx.send(AppEvent::WorkspaceDown).await.is_err() {
            return;
        }
        if let Ended::Fatal(_) | Ended::Retry(ClientError::Api(_)) = ended {
            // Refused (no such route, or no token): try again, but rarely.
            backoff.next_delay();
        }
        sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_unknown_kinds_still_report_their_seq() {
        let frame = r#"{"seq":7,"at":"2026-11-23T10:00:00.120Z","runtime_id":"backend-internal","worker_id":"01JD6Z8Y3M2Q9W7T4R5E6N1XKA","type":"memory_compacted","run_id":"x"}"#;
        assert_eq!(
            parse_worker_frame(frame),
            Some(FeedEvent::UnknownFrame { seq: Some(Seq(7)) })
        );
        assert_eq!(parse_worker_frame("not json"), None);
    }

    #[test]
    fn known_frames_parse_as_worker_events() {
        let frame = r#"{"seq":12,"at":"2026-11-23T10:00:00.120Z","runtime_id":"backend-internal","worker_id":"01JD6Z8Y3M2Q9W7T4R5E6N1XKA","type":"assistant_delta","run_id":"01JD6Z8Y3M2Q9W7T4R5E6N1XKB","text":"Hel"}"#;
        match parse_worker_frame(frame) {
            Some(FeedEvent::Frame(e)) => assert_eq!(e.seq, Seq(12)),
            other => panic!("{other:?}"),
        }
    }
}
