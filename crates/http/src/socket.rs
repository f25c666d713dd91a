//! The event sockets' pumps, shared by a runtime's own server and the
//! backend: frames go out as they come, the client is pinged and dropped when
//! it stops answering, and at shutdown the last events are sent before a
//! clean close.
//!
//! Each pump runs two halves side by side in one task: one reads the client
//! (pongs, and its Close, answered at once whatever the sender is doing:
//! live, replaying a cursor, or starting over after a lag), the other sends.
//! Every send has a deadline ([`SocketPolicy::send_deadline`]): a client that
//! stops reading is dropped and counted in the log instead of holding the
//! pump, its pings, or shutdown.
//!
//! A worker frame is the JSON text its event log made once; the socket only
//! takes a reference to it. A slow socket never slows the Worker: its source
//! falls behind on its own and is reset with `lagged`.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use futures::stream::{BoxStream, SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use yoi_protocol::WorkspaceEvent;

use worker_runtime::{EventFrame, WorkerStream};

use crate::failure::Failure;
use crate::limits::ConnectionSlot;

/// What a socket reads the client into (the library's default is 128 KiB).
const READ_BUFFER: usize = 8 * 1024;
/// How much a socket gathers before it writes (the library's default is
/// 128 KiB). Frames gathered are ahead of a Close reply like those the kernel
/// holds (see [`crate::tcp`]), so both are kept to a few KiB: dozens of
/// frames a write still.
const WRITE_BUFFER: usize = 16 * 1024;
/// After shutdown starts, how long a socket keeps sending the last events.
const DRAIN_FOR: Duration = Duration::from_millis(300);

/// How a socket treats a client that stops reading or answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketPolicy {
    /// How often the server pings the client.
    pub ping_every: Duration,
    /// Pings a client may leave unanswered before it is dropped.
    pub missed_pongs: u32,
    /// How long one send may wait for a client that does not read.
    pub send_deadline: Duration,
}

impl Default for SocketPolicy {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(15),
            missed_pongs: 2,
            send_deadline: Duration::from_secs(10),
        }
    }
}

/// What a pump needs from the server that runs it.
#[derive(Clone, Debug)]
pub struct PumpContext {
    /// Turns true when the server starts to stop.
    pub shutdown: watch::Receiver<bool>,
    pub policy: SocketPolicy,
    /// The connection slot the socket holds while it is open.
    pub slot: Option<ConnectionSlot>,
    /// Where the server counts sockets dropped as stalled.
    pub stalled: StalledDrops,
}

impl PumpContext {
    /// The socket holds `slot` until it ends.
    #[must_use]
    pub fn holding(mut self, slot: Option<ConnectionSlot>) -> Self {
        self.slot = slot;
        self
    }
}

/// A WebSocket upgrade, or why the request was not one.
pub type Upgrade =
    Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// The upgrade, or `invalid_input` for a plain request to a socket route.
/// Every event socket takes client messages, and frames, up to
/// [`crate::limits::MAX_CLIENT_MESSAGE`] and reads them through a small
/// buffer: clients send nothing that matters, and a socket costs less. The
/// frame cap matters as much as the message cap: a declared frame is
/// buffered whole before the message cap is checked (the library's default
/// frame is 16 MiB), so without it each socket could make the server hold
/// that much.
/// An upgrade request carries no body (a body would be read as the
/// socket's first frames): one with a `Content-Length` above 0 or a
/// `Transfer-Encoding` is `invalid_input`.
pub fn upgrade(ws: Upgrade, headers: &axum::http::HeaderMap) -> Result<WebSocketUpgrade, Failure> {
    let sized = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|n| n.as_bytes() != b"0");
    if sized || headers.contains_key(axum::http::header::TRANSFER_ENCODING) {
        return Err(Failure::invalid("a WebSocket upgrade request has no body"));
    }
    ws.map(|ws| {
        ws.max_message_size(crate::limits::MAX_CLIENT_MESSAGE)
            .max_frame_size(crate::limits::MAX_CLIENT_MESSAGE)
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
    })
    .map_err(|_| Failure::invalid("this route is a WebSocket: connect with an Upgrade request"))
}

/// Counts one server's sockets dropped because their client stopped reading:
/// a metric for the log, and what tests wait on. Each server has its own, so
/// one server's drops never show in another's count.
#[derive(Clone, Debug)]
pub struct StalledDrops(Arc<watch::Sender<u64>>);

impl Default for StalledDrops {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl StalledDrops {
    /// How many sockets this server dropped so far; it changes each time one
    /// is dropped.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Counts one more drop; returns the new total.
    fn count(&self) -> u64 {
        let mut total = 0;
        self.0.send_modify(|n| {
            *n += 1;
            total = *n;
        });
        total
    }
}

/// Shares the frame's text with the socket without copying it.
struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn text_frame(frame: &EventFrame) -> Message {
    let bytes = Bytes::from_owner(SharedJson(frame.json.clone()));
    match Utf8Bytes::try_from(bytes) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Text(Utf8Bytes::from(frame.json.as_ref())),
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Resolves once a shutdown starts; never when no one can start one.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Why a pump ended.
#[derive(Debug)]
enum End {
    /// The client sent a Close: answer it.
    ClientClosed,
    /// The client broke the protocol (e.g. a message over the limit).
    ClientBroke,
    /// The connection is gone; nothing more can be sent.
    Gone,
    /// The client did not read a frame within the send deadline.
    Stalled,
    /// The client left too many pings unanswered.
    Silent,
    /// The server closed with this frame (already sent, or to send).
    Closing(Message),
}

type Tx = SplitSink<WebSocket, Message>;

/// Reads the client until it leaves; every frame from it (pongs included)
/// shows it is alive.
async fn read_client(rx: &mut SplitStream<WebSocket>, unanswered: &AtomicU32) -> End {
    loop {
        match rx.next().await {
            Some(Ok(Message::Close(_))) => return End::ClientClosed,
            Some(Ok(_)) => unanswered.store(0, Ordering::Relaxed),
            Some(Err(_)) => return End::ClientBroke,
            None => return End::Gone,
        }
    }
}

/// Sends one message within the deadline.
async fn send(tx: &mut Tx, message: Message, policy: &SocketPolicy) -> Result<(), End> {
    match tokio::time::timeout(policy.send_deadline, tx.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Stalled),
    }
}

/// Most messages written together in one flush.
const MAX_BATCH: usize = 64;

/// Ready at the second poll: the task wakes itself at the first, so it goes
/// to the back of its thread's queue and the tasks already woken run first.
/// Unlike `tokio::task::yield_now`, which waits for the next turn of the I/O
/// driver, this costs no system call.
struct LetOthersRun(bool);

impl Future for LetOthersRun {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// What a batch ends with, besides its messages.
enum Gathered {
    /// `source` had nothing more ready.
    Dry,
    /// The batch is full and `source` may have more.
    Full,
    /// `source` ended or closed: this message ends the socket.
    Closing(Message),
}

/// Takes every message `source` has ready into `batch`, up to [`MAX_BATCH`].
fn take_ready(batch: &mut Vec<Message>, source: &mut BoxStream<'static, Message>) -> Gathered {
    while batch.len() < MAX_BATCH {
        match source.next().now_or_never() {
            Some(Some(Message::Close(frame))) => return Gathered::Closing(Message::Close(frame)),
            Some(Some(message)) => batch.push(message),
            Some(None) => {
                return Gathered::Closing(close(close_code::NORMAL, "event stream ended"))
            }
            None => return Gathered::Dry,
        }
    }
    Gathered::Full
}

/// Gathers `first` and what comes with it. When nothing more is ready, the
/// tasks already woken on this thread (a run reading its provider, decoding
/// a chunk, appending to the log) run once before the batch is written, and
/// what they add joins it. When that turn brought more (a burst), one more
/// turn follows, after the I/O driver has read what the provider sent
/// meanwhile: a burst of 200 tokens then costs about 6 writes, not 70. A
/// paced token finds nothing more and goes out after one extra poll of this
/// task, with no system call; nothing here waits for time to pass, and a
/// batch waits at most two turns of the thread's queue.
async fn gather(
    first: Message,
    source: &mut BoxStream<'static, Message>,
) -> (Vec<Message>, Gathered) {
    let mut batch = vec![first];
    match take_ready(&mut batch, source) {
        Gathered::Dry => {}
        other => return (batch, other),
    }
    LetOthersRun(false).await;
    match take_ready(&mut batch, source) {
        // Tokens came with the first: a burst. What the provider sent
        // meanwhile is read (one turn of the I/O driver) and joins too.
        Gathered::Dry if batch.len() > 1 => {}
        other => return (batch, other),
    }
    tokio::task::yield_now().await;
    let gathered = take_ready(&mut batch, source);
    (batch, gathered)
}

/// Sends `first` and every message `source` has ready with it, flushed once
/// (see [`gather`]). Each keeps its own frame. The whole batch has the send
/// deadline. `true` when the batch was full and `source` may have more ready.
async fn send_ready(
    tx: &mut Tx,
    first: Message,
    source: &mut BoxStream<'static, Message>,
    policy: &SocketPolicy,
) -> Result<bool, End> {
    let (messages, gathered) = gather(first, source).await;
    let batch = async {
        for message in messages {
            tx.feed(message).await?;
        }
        tx.flush().await
    };
    // A socket with room takes the batch at once: only a write that waits
    // gets the deadline's timer (one per token would cost the timer thread a
    // wake-up per token).
    let mut batch = std::pin::pin!(batch);
    let outcome = match batch.as_mut().now_or_never() {
        Some(done) => Ok(done),
        None => tokio::time::timeout(policy.send_deadline, batch).await,
    };
    match (outcome, gathered) {
        (Ok(Ok(())), Gathered::Closing(closing)) => Err(End::Closing(closing)),
        (Ok(Ok(())), Gathered::Full) => Ok(true),
        (Ok(Ok(())), Gathered::Dry) => Ok(false),
        (Ok(Err(_)), _) => Err(End::Gone),
        (Err(_), _) => Err(End::Stalled),
    }
}

/// Sends `source` until it ends, the client stops answering pings, or the
/// server shuts down (then what `source` still has is drained first).
async fn send_all(
    tx: &mut Tx,
    source: &mut BoxStream<'static, Message>,
    ctx: &mut PumpContext,
    unanswered: &AtomicU32,
) -> End {
    let policy = ctx.policy;
    let mut pings = tokio::time::interval(policy.ping_every);
    pings.tick().await;
    loop {
        // Pings before frames: a long replay must not starve them.
        let step = tokio::select! {
            biased;
            () = stopped(&mut ctx.shutdown) => return drain(tx, source, &policy).await,
            _ = pings.tick() => {
                if unanswered.fetch_add(1, Ordering::Relaxed) >= policy.missed_pongs {
                    return End::Silent;
                }
                send(tx, Message::Ping(Bytes::from_static(b"yoi")), &policy).await.map(|()| false)
            }
            next = source.next() => match next {
                Some(Message::Close(frame)) => return End::Closing(Message::Close(frame)),
                Some(message) => send_ready(tx, message, source, &policy).await,
                None => return End::Closing(close(close_code::NORMAL, "event stream ended")),
            },
        };
        match step {
            Err(end) => return end,
            // A full batch with more ready: let the pump read the client
            // before the next. While the socket takes every write, this loop
            // would otherwise go on until tokio's budget runs out (megabytes),
            // and frames sent after the client's Close arrived are frames it
            // must read before the reply. A batch that emptied its source
            // waits for the next frame anyway, with the client read meanwhile.
            Ok(true) => tokio::task::yield_now().await,
            Ok(false) => {}
        }
    }
}

async fn drain(
    tx: &mut Tx,
    source: &mut BoxStream<'static, Message>,
    policy: &SocketPolicy,
) -> End {
    while let Ok(Some(message)) = tokio::time::timeout(DRAIN_FOR, source.next()).await {
        if matches!(message, Message::Close(_)) {
            break;
        }
        if let Err(end) = send(tx, message, policy).await {
            return end;
        }
    }
    End::Closing(close(close_code::AWAY, "shutting down"))
}

/// Sends `source` over `socket`, reading the client all along.
async fn pump(socket: WebSocket, mut source: BoxStream<'static, Message>, mut ctx: PumpContext) {
    let (mut tx, mut rx) = socket.split();
    let unanswered = AtomicU32::new(0);
    let end = tokio::select! {
        // The client first: once its Close is read, nothing more is sent.
        biased;
        end = read_client(&mut rx, &unanswered) => end,
        end = send_all(&mut tx, &mut source, &mut ctx, &unanswered) => end,
    };
    // What the socket held (its subscription, its slot) is released before
    // the client hears the end, so that it can connect again at once.
    drop(source);
    drop(ctx.slot.take());
    let deadline = ctx.policy.send_deadline;
    match end {
        // Closing flushes the Close reply the library queued.
        End::ClientClosed => {
            let _ = tokio::time::timeout(deadline, tx.close()).await;
        }
        End::ClientBroke => {
            let message = close(close_code::POLICY, "message too large or malformed");
            let _ = tokio::time::timeout(deadline, tx.send(message)).await;
        }
        End::Closing(message) => {
            let _ = tokio::time::timeout(deadline, tx.send(message)).await;
        }
        End::Stalled => {
            worker_runtime::metrics::metrics()
                .slow_sockets_dropped
                .inc();
            let total = ctx.stalled.count();
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                dropped_so_far = total,
                "dropped a socket whose client stopped reading"
            );
        }
        End::Silent => tracing::debug!("dropped a socket that stopped answering pings"),
        End::Gone => {}
    }
}

/// Sends every frame of `source` until it ends, the client leaves, or the
/// server shuts down (then the remaining frames are drained first).
pub async fn pump_frames(socket: WebSocket, source: WorkerStream, ctx: PumpContext) {
    let _open = worker_runtime::metrics::OpenSocket::event();
    pump(socket, source.map(|frame| text_frame(&frame)).boxed(), ctx).await;
}

fn json_message(event: &WorkspaceEvent) -> Option<Message> {
    serde_json::to_string(event)
        .ok()
        .map(|text| Message::Text(text.into()))
}

/// Sends a `workspace_snapshot` from `snapshot`, then every event of
/// `events`; a listener that lags starts over from a fresh snapshot rather
/// than miss a change. `events` must be subscribed before this is called, so
/// that no change falls between the snapshot and the first event.
pub async fn pump_workspace<S, Fut>(
    socket: WebSocket,
    events: broadcast::Receiver<WorkspaceEvent>,
    snapshot: S,
    ctx: PumpContext,
) where
    S: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<WorkspaceEvent>> + Send,
{
    let _open = worker_runtime::metrics::OpenSocket::workspace();
    let source = futures::stream::unfold(
        (events, snapshot, true, false),
        |(mut events, snapshot, mut resync, ended)| async move {
            if ended {
                return None;
            }
            loop {
                if resync {
                    let Some(first) = snapshot().await else {
                        let bye = close(close_code::AWAY, "shutting down");
                        return Some((bye, (events, snapshot, false, true)));
                    };
                    let message = json_message(&first)?;
                    return Some((message, (events, snapshot, false, false)));
                }
                match events.recv().await {
                    Ok(event) => {
                        let message = json_message(&event)?;
                        return Some((message, (events, snapshot, false, false)));
                    }
                    Err(RecvError::Lagged(_)) => resync = true,
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    pump(socket, source.boxed(), ctx).await;
}
