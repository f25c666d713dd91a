//! How a server serves its connections (HTTP/1.1 and WebSocket upgrades),
//! the same for the backend and a runtime's own server.
//!
//! A connection holds a slot of `limits.connections` from accept to close,
//! idle or not, and a WebSocket upgraded from it keeps that slot while it is
//! open. Past the limit, a few more connections are accepted only to be
//! answered `limit_reached` and closed; beyond those, new connections are
//! closed at once. So that no one (with or without a token) can hold slots
//! by saying nothing, each connection is watched: its request head must
//! arrive within `header_timeout` of its first byte, and a connection with
//! no request in flight and nothing read or written for `idle_timeout` is
//! closed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;
use yoi_protocol::ErrorCode;

use crate::failure::Failure;
use crate::limits::{ConnectionSlot, ConnectionSlots, ServerLimits};

/// Connections past the limit that are answered `limit_reached` at a time;
/// beyond these, a connection is closed unanswered.
const REFUSING_AT_ONCE: usize = 64;

/// Serves `app` on `listener` until `stop` resolves, then stops accepting,
/// lets every connection finish its request in flight, and returns once all
/// are closed (WebSockets drain on their own, from the server's shutdown
/// signal).
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ServerLimits,
    stop: impl Future<Output = ()> + Send,
) where
    L: axum::serve::Listener,
{
    let slots = ConnectionSlots::new(limits.max_connections);
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let (closing_tx, closing) = watch::channel(false);
    // Each connection holds a sender; all are gone when all are closed.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(stop);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let admission = match slots.try_take() {
            Some(slot) => Admission::Slot(slot),
            None => match refusing.clone().try_acquire_owned() {
                Ok(permit) => Admission::Refused(permit),
                Err(_) => {
                    tracing::debug!("closed a connection past limits.connections unanswered");
                    continue;
                }
            },
        };
        let conn = Conn {
            app: app.clone(),
            limits,
            closing: closing.clone(),
            _alive: alive.clone(),
        };
        tokio::spawn(conn.run(io, admission));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// Why a connection was accepted.
enum Admission {
    /// It holds a slot: its requests are served.
    Slot(ConnectionSlot),
    /// Every slot was taken: each request is answered `limit_reached`.
    Refused(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// One accepted connection and what it needs from its server.
struct Conn {
    app: Router,
    limits: ServerLimits,
    closing: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Conn {
    async fn run<I>(mut self, io: I, admission: Admission)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            io,
            activity: activity.clone(),
        });
        let (slot, idle) = match admission {
            Admission::Slot(slot) => (Some(slot), self.limits.idle_timeout),
            // A refused connection gets one answer; it may not linger.
            Admission::Refused(_) => (None, self.limits.header_timeout),
        };
        let keep_alive = slot.is_some();
        let app = self.app.clone();
        let requests = activity.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let in_flight = requests.request_started();
            answer(app.clone(), slot.clone(), req, in_flight)
        });
        let conn = http1::Builder::new()
            .keep_alive(keep_alive)
            .serve_connection(io, service)
            .with_upgrades();
        tokio::pin!(conn);
        let watchdog = activity.expired(self.limits.header_timeout, idle);
        tokio::pin!(watchdog);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = &mut watchdog => {
                tracing::debug!("closed a connection that was idle or slow to send its request");
                return;
            }
            () = closing_signal(&mut self.closing) => {}
        }
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn => {}
            () = watchdog => {}
        }
    }
}

async fn closing_signal(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The app's answer to a request of a connection with a slot (which the
/// request carries, for a WebSocket to keep), or `limit_reached`.
async fn answer(
    app: Router,
    slot: Option<ConnectionSlot>,
    mut req: hyper::Request<Incoming>,
    in_flight: InFlight,
) -> Result<Response, Infallible> {
    let _in_flight = in_flight;
    let Some(slot) = slot else {
        return Ok(Failure::new(
            ErrorCode::LimitReached,
            "the server has as many open connections as it takes (limits.connections); try again later",
        )
        .into_response());
    };
    req.extensions_mut().insert(slot);
    app.oneshot(Request::from(req.map(axum::body::Body::new)))
        .await
}

/// What a connection did last, for its watchdog. Times are milliseconds
/// since `origin`; `head_since` is 0 when no request head is being read.
struct Activity {
    origin: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request being answered; the connection is not idle meanwhile.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Bytes arrived: between requests, they start a request head.
    fn read(&self) {
        self.touch();
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let since = self.now_ms().saturating_add(1);
            let _ =
                self.head_since
                    .compare_exchange(0, since, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// The head is read: the request is the app's now.
    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection is to be closed if nothing happens meanwhile; with
    /// a request in flight, only when to look again.
    fn deadline(&self, header: Duration, idle: Duration) -> (Instant, bool) {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return (Instant::now() + idle, false);
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        let at = if head_since > 0 {
            self.origin + Duration::from_millis(head_since - 1) + header
        } else {
            self.origin + Duration::from_millis(self.last_io.load(Ordering::Relaxed)) + idle
        };
        (at, true)
    }

    /// Resolves when the connection has been idle, or slow to send a
    /// request head, past its timeout.
    async fn expired(self: Arc<Self>, header: Duration, idle: Duration) {
        loop {
            let (at, _) = self.deadline(header, idle);
            tokio::time::sleep_until(at).await;
            let (at, closes) = self.deadline(header, idle);
            if closes && Instant::now() >= at {
                return;
            }
        }
    }
}

/// A connection's I/O, noting each read and write for its watchdog.
struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
