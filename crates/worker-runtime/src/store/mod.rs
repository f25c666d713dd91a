//! The store: a runtime's Workers, their whole history and their runs in an
//! embedded SQLite database (`<state_dir>/yoi.db`, WAL), so that they
//! survive restarts and crashes.
//!
//! One writer thread per runtime owns the connection ([`writer`]); actors
//! hand it [`Op`]s through a channel and never wait on disk. The thread
//! drains what is queued, writes it in one transaction, then runs the
//! replies that waited for it ([`Store::after_commit`]): an input's `202`
//! answer follows the commit of its user message, a `wait=true` answer the
//! commit of the run's end.
//!
//! What is written when:
//! - a Worker when it is created, renamed or stopped;
//! - a user message when it is accepted, before its `202`;
//! - the text of a run in flight at most every [`FLUSH_EVERY`];
//! - a run's final assistant message, usage and state when it ends;
//! - an input that joins a worker's queue, before its `202`; when it leaves
//!   the queue its row goes, in the same transaction as its user message
//!   when its run starts (so a crash neither loses nor repeats it);
//! - the `seq` a Worker may hand out ([`lease`]): a block is reserved before
//!   any `seq` in it is used, so a restarted Worker never hands out a `seq`
//!   twice, however the process ended.
//!
//! A batch whose write or commit fails is rolled back as a whole and every
//! reply that waited for it hears [`StoreError::Unavailable`] (clients get
//! `store_unavailable`, 503, retryable), never success; the store counts as
//! unavailable ([`Store::is_available`]) until a later batch commits, so
//! yoi recovers by itself when the disk does. A reservation of `seq`s
//! counts only once committed.
//!
//! Without a state directory the store is in memory only: nothing is
//! written and replies run at once.
//!
//! One process owns a state directory: [`open`] takes an exclusive lock on
//! `yoi.lock` beside the database, released when the process ends however
//! it ends. A database that cannot be opened or fails its integrity check
//! is an error, never replaced.

mod import;
pub mod lease;
mod schema;
pub mod search;
pub mod usage;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use yoi_protocol::{
    ClientMessageId, InputAccepted, LastRun, Message, MessageId, Seq, Timestamp, Usage, WorkerId,
};

pub use lease::SeqLease;

/// How many `client_message_id`s each Worker remembers, in memory and in
/// the store: the newest ones; a retry with an older id runs again.
pub const CLIENT_IDS_KEPT: usize = 1000;

/// An input's `client_message_id` and the answer it got, kept with the
/// input (in the same transaction) so that a retry is answered the same.
#[derive(Debug, Clone)]
pub struct ClientInput {
    pub id: ClientMessageId,
    pub answer: InputAccepted,
}

/// How often the text of a run in flight is written at the most.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Why the store cannot be used. Messages name files relative to the state
/// directory and say what to do; they never reach a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("another yoi process is using this state directory ({0} is locked); stop it first")]
    Locked(String),
    #[error(
        "the database {file} cannot be used: {why}. Nothing was changed. Restore it from a backup, or move it aside to start over with no history"
    )]
    Damaged { file: String, why: String },
    #[error(
        "the database {file} was written by a newer yoi (schema {found}, this one knows {known})"
    )]
    TooNew {
        file: String,
        found: i64,
        known: i64,
    },
    #[error("the state directory cannot be used: {0}")]
    Io(String),
    #[error("the store stopped")]
    Closed,
    #[error("no message {0} in this worker's history")]
    UnknownMessage(MessageId),
    #[error("the database failed: {0}")]
    Sql(String),
    /// A write or commit failed (disk full, I/O error, read-only file):
    /// nothing of its batch was kept.
    #[error("the store cannot write now ({0}); nothing of this request was kept")]
    Unavailable(String),
}

/// A Worker as the store keeps it.
#[derive(Debug, Clone)]
pub struct WorkerRow {
    pub worker_id: WorkerId,
    pub display_name: String,
    pub profile: String,
    pub created_at: Timestamp,
    pub usage: Usage,
    /// No `seq` above this was handed out.
    pub seq_reserved: Seq,
}

/// A Worker read back at start: its row, its newest messages and last run.
#[derive(Debug, Clone)]
pub struct SavedWorker {
    pub row: WorkerRow,
    /// The newest messages, oldest first.
    pub recent: Vec<Message>,
    /// Whether older messages than `recent` exist.
    pub older: bool,
    pub last_run: Option<LastRun>,
    /// Inputs waiting in its queue, the next first: the user messages they
    /// become when their runs start.
    pub queue: Vec<Message>,
    /// Tool decisions a person made for the rest of its life.
    pub tool_decisions: Vec<(String, yoi_protocol::ApprovalDecision)>,
    /// Its newest inputs sent with a `client_message_id`, oldest first.
    pub client_inputs: Vec<ClientInput>,
    /// The reservation committed at open (above `row.seq_reserved`), which
    /// its lease starts with.
    pub lease: Seq,
    /// Why its rows cannot be read, when they cannot: the Worker is then
    /// quarantined (listed, never run) and the fields above are empty.
    pub damaged: Option<String>,
}

/// One page of a Worker's history, oldest first, and whether older exist.
pub type Page = (Vec<Message>, bool);

/// A reply that runs once everything queued before it is committed, with
/// whether that commit succeeded.
pub type AfterCommit = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// The partial answer of a run in flight, waiting for the writer: a new
/// flush replaces it while it waits, so that a stalled store holds one copy
/// per run, not one per flush. Shared with the writer thread, which takes
/// it when it writes; held only to swap a message in or out.
pub type PartialSlot = Arc<std::sync::Mutex<Option<Message>>>;

/// Operations queued and not yet written past which new work (input,
/// workers) is refused with `store_unavailable`: the queue's bound. What is
/// already running still writes (its partial answers are one slot each).
pub const BACKLOG: usize = 16 * 1024;

/// What the writer thread is asked to do, in order.
pub enum Op {
    CreateWorker {
        row: WorkerRow,
    },
    Message {
        worker_id: WorkerId,
        message: Message,
    },
    /// A user message that starts a run, with its client's id and answer.
    Input {
        worker_id: WorkerId,
        message: Message,
        client: Option<ClientInput>,
    },
    /// The answer kept for a client's id, replaced.
    ClientInput {
        worker_id: WorkerId,
        client: ClientInput,
    },
    /// Writes what waits in the slot, if anything (see [`PartialSlot`]).
    Partial {
        worker_id: WorkerId,
        slot: PartialSlot,
    },
    Run {
        worker_id: WorkerId,
        run: LastRun,
    },
    Usage {
        worker_id: WorkerId,
        usage: Usage,
    },
    Stopped {
        worker_id: WorkerId,
        at: Timestamp,
    },
    Rename {
        worker_id: WorkerId,
        display_name: String,
    },
    /// An input joins the Worker's queue (`message` is the user message it becomes).
    Queued {
        worker_id: WorkerId,
        message: Message,
        client: Option<ClientInput>,
    },
    /// An input leaves the queue; `started` is its user message when its
    /// run starts, written in the same step.
    Unqueued {
        message_id: MessageId,
        started: Option<(WorkerId, Message)>,
    },
    /// Raise the Worker's reservation to `upto` (the lease counts it once
    /// the [`Op::AfterCommit`] it queues behind says it was committed).
    Reserve {
        worker_id: WorkerId,
        upto: u64,
    },
    /// What an ended run adds to the usage roll-up (with its end).
    Tally(usage::Tally),
    /// A person's decision on a tool for the rest of the Worker's life.
    ToolDecision {
        worker_id: WorkerId,
        tool: String,
        decision: yoi_protocol::ApprovalDecision,
    },
    /// The process ends cleanly: the next `seq` is `last + 1`, with no gap.
    Settle {
        worker_id: WorkerId,
        last: Seq,
    },
    /// Messages before `before` (or the newest), at most `limit`.
    Page {
        worker_id: WorkerId,
        before: Option<MessageId>,
        limit: usize,
        reply: Box<dyn FnOnce(Result<Page, StoreError>) + Send>,
    },
    /// A reply, told of a failure if its batch, or any batch holding an
    /// operation queued after `since`, was not committed.
    AfterCommit {
        since: Mark,
        reply: AfterCommit,
    },
    /// Write what is queued, release the database and the lock, and end.
    Close {
        done: std::sync::mpsc::Sender<()>,
    },
}

/// The handle actors write through: cheap to clone. Its channel is
/// unbounded because actors queue from synchronous code under their core's
/// lock, where nothing may wait; it is bounded in effect by [`BACKLOG`]:
/// past it new work is refused, and a run in flight queues one partial
/// answer at a time.
#[derive(Clone)]
pub struct Store {
    queue: Option<Arc<std::sync::Mutex<Queue>>>,
    /// Whether the last batch committed; shared with the writer thread,
    /// which alone sets it, so that `/api/health` can read it without a message.
    available: Arc<AtomicBool>,
    /// Operations queued and not yet written (the writer counts them down).
    pending: Arc<AtomicUsize>,
    /// The database, for usage queries on connections of their own.
    db: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durable", &self.is_durable())
            .field("available", &self.is_available())
            .finish()
    }
}

/// The number of the last operation queued: a request's writes are those
/// queued after the mark taken when it began. A batch may end between two
/// writes of one request, so a reply looks at every batch since its mark.
pub type Mark = u64;

/// The writer's channel, and the number of the last operation sent on it.
/// Behind a mutex shared by every handle so that numbers follow the
/// channel's order; it is held only to number and send, which never waits.
struct Queue {
    tx: mpsc::UnboundedSender<(Mark, Op)>,
    last: Mark,
}

/// The database's file name in a state directory.
pub const DB_FILE: &str = "yoi.db";
/// The lock's file name in a state directory.
pub const LOCK_FILE: &str = "yoi.lock";

/// Opens (or creates) the store of `dir`: locks it, checks and migrates the
/// database, imports Workers saved as JSON by earlier versions, and starts
/// the writer thread. Returns the Workers to restore (not stopped ones),
/// each with a first reservation already committed, so that restoring one
/// never waits for the store. `max_bytes` caps the database's size
/// (`limits.store_bytes`): past it, writes fail as on a full disk.
pub fn open(
    dir: &Path,
    recent: usize,
    max_bytes: Option<u64>,
) -> Result<(Store, Vec<SavedWorker>), StoreError> {
    prepare_dir(dir)?;
    let lock = lock(dir)?;
    let mut conn = schema::open(&dir.join(DB_FILE))?;
    if let Some(bytes) = max_bytes {
        schema::cap_size(&conn, bytes)?;
    }
    import::json_workers(&mut conn, dir)?;
    let mut saved = writer::load(&conn, recent)?;
    writer::reserve_ahead(&mut conn, &mut saved, lease::BLOCK)?;
    let available = Arc::new(AtomicBool::new(true));
    let pending = Arc::new(AtomicUsize::new(0));
    let tx = writer::start(conn, lock, available.clone(), pending.clone())?;
    Ok((
        Store {
            queue: Some(Arc::new(std::sync::Mutex::new(Queue { tx, last: 0 }))),
            available,
            pending,
            db: Some(Arc::new(dir.join(DB_FILE))),
        },
        saved,
    ))
}

impl Store {
    /// A store that keeps nothing: replies run at once.
    pub fn memory() -> Store {
        Store {
            queue: None,
            available: Arc::new(AtomicBool::new(true)),
            pending: Arc::new(AtomicUsize::new(0)),
            db: None,
        }
    }

    /// Whether so much waits for the writer that new work must wait
    /// (the queue's bound, [`BACKLOG`]).
    pub fn is_backlogged(&self) -> bool {
        self.pending.load(Ordering::Acquire) >= BACKLOG
    }

    /// Queues the partial answer of a run: into its slot, replacing one the
    /// writer has not taken yet, with one [`Op::Partial`] per write.
    pub fn put_partial(&self, worker_id: WorkerId, slot: &PartialSlot, message: Message) {
        if self.queue.is_none() {
            return;
        }
        let waiting = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(message)
            .is_some();
        if !waiting {
            self.send(Op::Partial {
                worker_id,
                slot: slot.clone(),
            });
        }
    }

    /// Whether the last batch was committed (always in memory).
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// Whether anything is written.
    pub fn is_durable(&self) -> bool {
        self.queue.is_some()
    }

    /// The mark a request takes before its writes (see [`Mark`]).
    pub fn mark(&self) -> Mark {
        self.queue.as_ref().map_or(0, |queue| {
            queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .last
        })
    }

    /// Numbers and sends `op`; gives it back when the writer is gone.
    fn push(&self, op: Op) -> Result<(), Box<Op>> {
        let Some(queue) = &self.queue else {
            return Err(Box::new(op));
        };
        let mut queue = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.last += 1;
        let number = queue.last;
        self.pending.fetch_add(1, Ordering::AcqRel);
        queue.tx.send((number, op)).map_err(|e| {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            Box::new(e.0 .1)
        })
    }

    /// Queues `op`; a stopped store drops it (its replies with it).
    pub fn send(&self, op: Op) {
        if self.queue.is_some() && self.push(op).is_err() {
            tracing::error!("the store stopped; a write was lost");
        }
    }

    /// Runs `reply` once everything queued before it is committed (at once
    /// in memory), with whether that commit succeeded.
    pub fn after_commit(&self, reply: impl FnOnce(Result<(), StoreError>) + Send + 'static) {
        self.after_commit_since(self.mark(), reply);
    }

    /// Like [`Store::after_commit`], and told of a failure too when any
    /// write queued after `since` (the request's own) was not committed.
    pub fn after_commit_since(
        &self,
        since: Mark,
        reply: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        if self.queue.is_none() {
            return reply(Ok(()));
        }
        let op = Op::AfterCommit {
            since,
            reply: Box::new(reply),
        };
        if let Err(op) = self.push(op) {
            if let Op::AfterCommit { reply, .. } = *op {
                // Answer anyway: the caller must not hang on a store that is gone.
                reply(Err(StoreError::Closed));
            }
        }
    }

    /// Records a new Worker and waits until it is committed.
    pub async fn create_worker(&self, row: WorkerRow) -> Result<(), StoreError> {
        if self.queue.is_none() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        let since = self.mark();
        self.send(Op::CreateWorker { row });
        self.after_commit_since(since, move |outcome| {
            let _ = done.send(outcome);
        });
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    pub fn put_message(&self, worker_id: WorkerId, message: Message) {
        self.send(Op::Message { worker_id, message });
    }

    pub fn put_run(&self, worker_id: WorkerId, run: LastRun) {
        self.send(Op::Run { worker_id, run });
    }

    pub fn put_tally(&self, tally: usage::Tally) {
        self.send(Op::Tally(tally));
    }

    /// Usage summed over `request`'s days, grouped as it asks (the
    /// runtime's group is the caller's). Read on a connection of its own in
    /// a blocking task: it waits for no Worker and no Worker waits for it.
    /// A store in memory keeps no history: nothing.
    pub async fn usage(
        &self,
        request: yoi_protocol::UsageRequest,
    ) -> Result<Vec<yoi_protocol::UsageGroup>, StoreError> {
        let Some(db) = self.db.clone() else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || usage::query(&db, &request))
            .await
            .map_err(|e| StoreError::Sql(e.to_string()))?
    }

    /// The best hits of `request` in this store (see [`search`]), on a
    /// read connection of its own in a blocking task. A store in memory
    /// keeps no history: none.
    pub async fn search(
        &self,
        runtime_id: yoi_protocol::RuntimeId,
        request: yoi_protocol::SearchRequest,
    ) -> Result<Vec<yoi_protocol::SearchHit>, StoreError> {
        let Some(db) = self.db.clone() else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || search::query(&db, &runtime_id, &request))
            .await
            .map_err(|e| StoreError::Sql(e.to_string()))?
    }

    /// A page of a worker's stored transcript at `anchor`, read like
    /// [`Store::search`]; `None` when the store has no such worker (or
    /// keeps no history).
    pub async fn window(
        &self,
        worker_id: WorkerId,
        anchor: yoi_protocol::TranscriptAnchor,
        limit: usize,
    ) -> Result<Option<search::Window>, StoreError> {
        let Some(db) = self.db.clone() else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || search::window(&db, worker_id, anchor, limit))
            .await
            .map_err(|e| StoreError::Sql(e.to_string()))?
    }

    pub fn put_usage(&self, worker_id: WorkerId, usage: Usage) {
        self.send(Op::Usage { worker_id, usage });
    }

    /// A user message that starts a run; `client` is written with it.
    pub fn put_input(&self, worker_id: WorkerId, message: Message, client: Option<ClientInput>) {
        self.send(Op::Input {
            worker_id,
            message,
            client,
        });
    }

    /// Corrects the answer kept for a client's id.
    pub fn put_client_input(&self, worker_id: WorkerId, client: ClientInput) {
        self.send(Op::ClientInput { worker_id, client });
    }

    /// An input joins the queue; `client` is written with it.
    pub fn put_queued(&self, worker_id: WorkerId, message: Message, client: Option<ClientInput>) {
        self.send(Op::Queued {
            worker_id,
            message,
            client,
        });
    }

    /// The input leaves the queue; with `started`, its user message joins
    /// the history at the same time.
    pub fn put_unqueued(&self, message_id: MessageId, started: Option<(WorkerId, Message)>) {
        self.send(Op::Unqueued {
            message_id,
            started,
        });
    }

    pub fn put_tool_decision(
        &self,
        worker_id: WorkerId,
        tool: String,
        decision: yoi_protocol::ApprovalDecision,
    ) {
        self.send(Op::ToolDecision {
            worker_id,
            tool,
            decision,
        });
    }

    pub fn put_stopped(&self, worker_id: WorkerId) {
        self.send(Op::Stopped {
            worker_id,
            at: Timestamp::now(),
        });
    }

    /// Writes what is queued and stops the writer; waits until it has.
    pub async fn close(&self) {
        if self.queue.is_none() {
            return;
        }
        let (done, rx) = std::sync::mpsc::channel();
        if self.push(Op::Close { done }).is_ok() {
            // The writer answers after its last commit; wait off the runtime.
            let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
        }
    }
}

/// Creates the state directory, private to the user.
fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| StoreError::Io(e.to_string()))
}

/// Takes the directory's lock for as long as the returned file is open.
fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path: PathBuf = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(LOCK_FILE.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use yoi_protocol::{MessageState, Role, RunId};

    fn message(id: MessageId, run_id: RunId, text: &str) -> Message {
        Message {
            sender: None,
            tool_calls: Vec::new(),
            id,
            role: Role::Assistant,
            text: text.to_owned(),
            at: Timestamp::now(),
            run_id,
            state: MessageState::Streaming,
            reasoning: None,
            error: None,
        }
    }

    /// While the writer is stalled (another connection holds the write
    /// lock), a hundred flushes of a growing answer queue one operation and
    /// keep one copy; the last one is what gets written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partial_flushes_replace_each_other_while_the_store_stalls() {
        let dir = std::env::temp_dir().join(format!("yoi-store-partial-{}", WorkerId::new()));
        let (store, _) = open(&dir, 10, None).unwrap();
        let worker_id = WorkerId::new();
        store
            .create_worker(WorkerRow {
                worker_id,
                display_name: "w".to_owned(),
                profile: "companion".to_owned(),
                created_at: Timestamp::now(),
                usage: Usage::default(),
                seq_reserved: Seq(4096),
            })
            .await
            .unwrap();
        let other = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (id, run_id) = (MessageId::new(), RunId::new());
        // Stalls the writer on its first write.
        store.put_message(worker_id, message(MessageId::new(), run_id, "first"));
        let before = store.pending.load(Ordering::Acquire);
        let slot = PartialSlot::default();
        let mut answer = String::new();
        for i in 0..100 {
            answer.push_str(&format!("token{i} "));
            store.put_partial(worker_id, &slot, message(id, run_id, &answer));
        }
        assert_eq!(
            store.pending.load(Ordering::Acquire),
            before + 1,
            "one queued write for a hundred flushes"
        );
        other.execute_batch("ROLLBACK").unwrap();
        store.close().await;

        let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        let data: String = conn
            .query_row(
                "SELECT data FROM messages WHERE message_id = ?1",
                [id.to_string()],
                |row| row.get(0),
            )
            .unwrap();
        let saved: Message = serde_json::from_str(&data).unwrap();
        assert_eq!(saved.text, answer, "the newest flush is written");
        let _ = std::fs::remove_dir_all(dir);
    }
}
