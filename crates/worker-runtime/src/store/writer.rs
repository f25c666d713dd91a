//! The writer thread: owns the connection, applies what is queued in one
//! transaction per batch (so streaming pays no disk round trip per token),
//! then runs the replies that waited for the commit. Reads of older history
//! run on the same thread, after the writes queued before them.
//!
//! A batch is all or nothing: when one write of it or its commit fails, it
//! is rolled back and every reply of it hears [`StoreError::Unavailable`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use yoi_protocol::{ClientMessageId, LastRun, Message, MessageId, Seq, Timestamp, Usage, WorkerId};

use super::{
    AfterCommit, ClientInput, Mark, Op, Page, SavedWorker, StoreError, WorkerRow, CLIENT_IDS_KEPT,
};

/// Most operations written in one transaction.
const BATCH: usize = 4096;

fn sql(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
}

/// Runs one statement through the connection's cache of prepared
/// statements: the writer runs the same few again and again (a partial
/// answer every 200 ms of every stream), and parsing one costs more than
/// running it.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(sql)
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(sql)
}

/// Starts the thread; it holds `lock` until it ends.
pub fn start(
    conn: Connection,
    lock: std::fs::File,
    available: Arc<AtomicBool>,
    pending: Arc<AtomicUsize>,
) -> Result<mpsc::UnboundedSender<(Mark, Op)>, StoreError> {
    // Unbounded: a batch drains everything queued, and what actors queue is
    // bounded by what their runs produce between two commits.
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("yoi-store".to_owned())
        .spawn(move || {
            let closed = run(conn, rx, &available, &pending);
            // Let go of the database and the lock before saying so.
            drop(lock);
            if let Some(done) = closed {
                let _ = done.send(());
            }
        })
        .map_err(|e| StoreError::Io(e.to_string()))?;
    Ok(tx)
}

/// Writes until closed (returns who asked) or until every handle is gone.
fn run(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<(Mark, Op)>,
    available: &AtomicBool,
    pending: &AtomicUsize,
) -> Option<std::sync::mpsc::Sender<()>> {
    // The number of the last operation of a batch that was not committed.
    let mut last_failed: Mark = 0;
    while let Some((mut newest, first)) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok((number, op)) => {
                    newest = number;
                    batch.push(op);
                }
                Err(_) => break,
            }
        }
        let taken = batch.len();
        let (after, close, outcome) = write_batch(&mut conn, batch);
        let failed_before = last_failed;
        if outcome.is_err() {
            last_failed = newest;
        }
        pending.fetch_sub(taken, Ordering::AcqRel);
        let was = available.swap(outcome.is_ok(), Ordering::AcqRel);
        match (&outcome, was) {
            (Err(e), true) => tracing::error!(
                error = %e,
                "the store cannot write: requests are answered store_unavailable until a write succeeds (free disk space or fix the file's permissions)"
            ),
            (Ok(()), false) => tracing::info!("the store writes again"),
            _ => {}
        }
        for (since, reply) in after {
            // A request whose earlier write went in a failed batch failed too.
            let answer = match &outcome {
                Ok(()) if failed_before > since => Err(StoreError::Unavailable(
                    "an earlier write of this request was not committed".to_owned(),
                )),
                other => other.clone(),
            };
            reply(answer);
        }
        if close.is_some() {
            return close;
        }
    }
    None
}

/// What a batch leaves to do once committed (or not), and whether it was.
type Afterwards = (
    Vec<(Mark, AfterCommit)>,
    Option<std::sync::mpsc::Sender<()>>,
    Result<(), StoreError>,
);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn write_batch(conn: &mut Connection, batch: Vec<Op>) -> Afterwards {
    let mut after: Vec<(Mark, AfterCommit)> = Vec::new();
    let mut close = None;
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for op in batch {
        match op {
            Op::AfterCommit { since, reply } => after.push((since, reply)),
            Op::Close { done } => close = Some(done),
            Op::Page {
                worker_id,
                before,
                limit,
                reply,
            } => reads.push((worker_id, before, limit, reply)),
            other => writes.push(other),
        }
    }
    let outcome = commit(conn, writes);
    for (worker_id, before, limit, reply) in reads {
        let page = page(conn, worker_id, before, limit);
        after.push((Mark::MAX, Box::new(move |_| reply(page))));
    }
    (after, close, outcome)
}

/// Applies `writes` in one transaction: all of them or, when one fails,
/// none (dropping the transaction rolls it back).
fn commit(conn: &mut Connection, writes: Vec<Op>) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let tx = conn.transaction().map_err(unavailable)?;
    for op in writes {
        apply(&tx, op).map_err(|e| match e {
            StoreError::Sql(why) => StoreError::Unavailable(why),
            other => other,
        })?;
    }
    tx.commit().map_err(unavailable)?;
    crate::metrics::metrics()
        .store_commit
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

fn insert_worker(tx: &Transaction<'_>, row: &WorkerRow) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO workers (worker_id, display_name, profile, created_at, seq_reserved, usage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            row.worker_id.to_string(),
            row.display_name,
            row.profile,
            to_json(&row.created_at)?,
            i64::try_from(row.seq_reserved.0).map_err(sql)?,
            to_json(&row.usage)?,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

fn reserve(tx: &Transaction<'_>, worker_id: WorkerId, upto: u64) -> Result<(), StoreError> {
    exec(
        tx,
        "UPDATE workers SET seq_reserved = max(seq_reserved, ?2) WHERE worker_id = ?1",
        params![worker_id.to_string(), i64::try_from(upto).map_err(sql)?],
    )
    .map_err(sql)?;
    Ok(())
}

fn apply(tx: &Transaction<'_>, op: Op) -> Result<(), StoreError> {
    match op {
        Op::CreateWorker { row } => insert_worker(tx, &row)?,
        Op::Reserve { worker_id, upto } => reserve(tx, worker_id, upto)?,
        Op::Message { worker_id, message } => put_message(tx, worker_id, &message)?,
        Op::Partial { worker_id, slot } => put_partial(tx, worker_id, &slot)?,
        Op::Input {
            worker_id,
            message,
            client,
        } => {
            put_message(tx, worker_id, &message)?;
            client.map_or(Ok(()), |c| put_client_input(tx, worker_id, &c))?;
        }
        Op::ClientInput { worker_id, client } => put_client_input(tx, worker_id, &client)?,
        Op::Queued {
            worker_id,
            message,
            client,
        } => put_queued(tx, worker_id, &message, client.as_ref())?,
        Op::Unqueued {
            message_id,
            started,
        } => put_unqueued(tx, message_id, started)?,
        Op::Run { worker_id, run } => {
            exec(
                tx,
                "INSERT INTO runs (run_id, worker_id, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT(run_id) DO UPDATE SET data = excluded.data",
                params![
                    run.run_id.to_string(),
                    worker_id.to_string(),
                    to_json(&run)?
                ],
            )
            .map_err(sql)?;
        }
        Op::Usage { worker_id, usage } => {
            exec(
                tx,
                "UPDATE workers SET usage = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), to_json(&usage)?],
            )
            .map_err(sql)?;
        }
        Op::Stopped { worker_id, at } => {
            exec(
                tx,
                "UPDATE workers SET stopped_at = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), to_json(&at)?],
            )
            .map_err(sql)?;
        }
        Op::Rename {
            worker_id,
            display_name,
        } => {
            exec(
                tx,
                "UPDATE workers SET display_name = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), display_name],
            )
            .map_err(sql)?;
        }
        Op::Tally(tally) => super::usage::put_tally(tx, &tally)?,
        Op::ToolDecision {
            worker_id,
            tool,
            decision,
        } => put_tool_decision(tx, worker_id, &tool, decision)?,
        Op::Settle { worker_id, last } => {
            exec(
                tx,
                "UPDATE workers SET seq_reserved = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), i64::try_from(last.0).map_err(sql)?],
            )
            .map_err(sql)?;
        }
        // Handled by the batch itself.
        Op::Page { .. } | Op::AfterCommit { .. } | Op::Close { .. } => {}
    }
    Ok(())
}

/// Writes the partial answer waiting in `slot`, if any (a later flush may
/// have been written with an earlier op).
fn put_partial(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    slot: &super::PartialSlot,
) -> Result<(), StoreError> {
    let message = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match message {
        Some(message) => put_message(tx, worker_id, &message),
        None => Ok(()),
    }
}

fn put_message(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    message: &Message,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO messages (message_id, worker_id, data) VALUES (?1, ?2, ?3)
         ON CONFLICT(message_id) DO UPDATE SET data = excluded.data",
        params![
            message.id.to_string(),
            worker_id.to_string(),
            to_json(message)?
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// An input leaves the queue; with `started`, it joins the history.
fn put_unqueued(
    tx: &Transaction<'_>,
    message_id: MessageId,
    started: Option<(WorkerId, Message)>,
) -> Result<(), StoreError> {
    exec(
        tx,
        "DELETE FROM queued_inputs WHERE message_id = ?1",
        params![message_id.to_string()],
    )
    .map_err(sql)?;
    match started {
        Some((worker_id, message)) => put_message(tx, worker_id, &message),
        None => Ok(()),
    }
}

/// An input joins the queue, with its client's id when it has one.
fn put_queued(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    message: &Message,
    client: Option<&ClientInput>,
) -> Result<(), StoreError> {
    if let Some(client) = client {
        put_client_input(tx, worker_id, client)?;
    }
    exec(
        tx,
        "INSERT OR IGNORE INTO queued_inputs (message_id, worker_id, data) VALUES (?1, ?2, ?3)",
        params![
            message.id.to_string(),
            worker_id.to_string(),
            to_json(message)?
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// Keeps a client's id with its answer, and forgets the Worker's ids past
/// the newest [`CLIENT_IDS_KEPT`].
fn put_client_input(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    client: &ClientInput,
) -> Result<(), StoreError> {
    let worker = worker_id.to_string();
    exec(
        tx,
        "INSERT INTO client_inputs (worker_id, client_message_id, answer) VALUES (?1, ?2, ?3)
         ON CONFLICT(worker_id, client_message_id) DO UPDATE SET answer = excluded.answer",
        params![worker, client.id.as_str(), to_json(&client.answer)?],
    )
    .map_err(sql)?;
    exec(
        tx,
        "DELETE FROM client_inputs WHERE worker_id = ?1 AND id <= (
             SELECT id FROM client_inputs WHERE worker_id = ?1
             ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![worker, i64::try_from(CLIENT_IDS_KEPT).map_err(sql)?],
    )
    .map_err(sql)?;
    Ok(())
}

/// A Worker's newest inputs sent with a client's id, oldest first.
fn client_inputs(conn: &Connection, worker_id: WorkerId) -> Result<Vec<ClientInput>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT client_message_id, answer FROM (
                 SELECT id, client_message_id, answer FROM client_inputs
                 WHERE worker_id = ?1 ORDER BY id DESC LIMIT ?2)
             ORDER BY id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(
            params![
                worker_id.to_string(),
                i64::try_from(CLIENT_IDS_KEPT).map_err(sql)?
            ],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, answer) = row.map_err(sql)?;
        out.push(ClientInput {
            id: ClientMessageId::parse(&id).map_err(sql)?,
            answer: from_json(&answer)?,
        });
    }
    Ok(out)
}

/// The inputs waiting in a Worker's queue, the next first.
fn queue(conn: &Connection, worker_id: WorkerId) -> Result<Vec<Message>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT data FROM queued_inputs WHERE worker_id = ?1 ORDER BY id")
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![worker_id.to_string()], |row| {
            row.get::<_, String>(0)
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json::<Message>(&row.map_err(sql)?)?);
    }
    Ok(out)
}

/// Messages before `before` (the newest when `None`), oldest first.
fn page(
    conn: &Connection,
    worker_id: WorkerId,
    before: Option<MessageId>,
    limit: usize,
) -> Result<Page, StoreError> {
    let below: i64 = match before {
        None => i64::MAX,
        Some(id) => conn
            .query_row(
                "SELECT id FROM messages WHERE message_id = ?1 AND worker_id = ?2",
                params![id.to_string(), worker_id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql)?
            .ok_or(StoreError::UnknownMessage(id))?,
    };
    newest_messages(conn, worker_id, below, limit)
}

/// Up to `limit` messages with an id below `below`, oldest first, and
/// whether older ones exist.
fn newest_messages(
    conn: &Connection,
    worker_id: WorkerId,
    below: i64,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT data FROM messages WHERE worker_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        )
        .map_err(sql)?;
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![worker_id.to_string(), below, fetch], |row| {
            row.get::<_, String>(0)
        })
        .map_err(sql)?;
    let mut messages = Vec::new();
    for row in rows {
        messages.push(from_json::<Message>(&row.map_err(sql)?)?);
    }
    let older = messages.len() > limit;
    messages.truncate(limit);
    messages.reverse();
    Ok((messages, older))
}

/// Every Worker that was not stopped, in creation order, with its newest
/// `recent` messages and its last run. A Worker whose rows cannot be read
/// is quarantined (returned with `damaged` set) so that the others load; a
/// row whose id cannot be read is left out. Both are logged with what to do.
pub fn load(conn: &Connection, recent: usize) -> Result<Vec<SavedWorker>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT rowid, worker_id, display_name, profile, created_at, seq_reserved, usage
             FROM workers WHERE stopped_at IS NULL ORDER BY rowid",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |row| {
            let mut cols = Vec::with_capacity(6);
            for i in 1..=6 {
                cols.push(row.get::<_, Value>(i)?);
            }
            Ok((row.get::<_, i64>(0)?, cols))
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (rowid, cols) = row.map_err(sql)?;
        let worker_id = match text(&cols[0]).and_then(|id| id.parse::<WorkerId>().map_err(sql)) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(
                    rowid,
                    error = %e,
                    "a worker row of yoi.db has an id that cannot be read; it is left out. Restore yoi.db from a backup, or delete that row (workers.rowid) to silence this"
                );
                continue;
            }
        };
        match saved_worker(conn, worker_id, &cols, recent) {
            Ok(saved) => out.push(saved),
            Err(e) => {
                tracing::error!(
                    %worker_id,
                    error = %e,
                    "worker {worker_id} is quarantined: its rows in yoi.db cannot be read. It is listed as `quarantined` and takes no input; restore yoi.db from a backup, or stop the worker to drop it"
                );
                out.push(quarantined(worker_id, &cols, e));
            }
        }
    }
    Ok(out)
}

/// A column that must be text.
fn text(value: &Value) -> Result<&str, StoreError> {
    match value {
        Value::Text(t) => Ok(t),
        other => Err(StoreError::Sql(format!(
            "a {:?} where text belongs",
            other.data_type()
        ))),
    }
}

/// A Worker read back from its row (`cols` as `load` selects them).
fn saved_worker(
    conn: &Connection,
    worker_id: WorkerId,
    cols: &[Value],
    recent: usize,
) -> Result<SavedWorker, StoreError> {
    let seq = match &cols[4] {
        Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| StoreError::Sql(format!("a negative reservation ({n})")))?,
        other => {
            return Err(StoreError::Sql(format!(
                "a {:?} reservation",
                other.data_type()
            )))
        }
    };
    let row = WorkerRow {
        worker_id,
        display_name: text(&cols[1])?.to_owned(),
        profile: text(&cols[2])?.to_owned(),
        created_at: from_json::<Timestamp>(text(&cols[3])?)?,
        usage: from_json::<Usage>(text(&cols[5])?)?,
        seq_reserved: Seq(seq),
    };
    let (recent, older) = newest_messages(conn, worker_id, i64::MAX, recent)?;
    Ok(SavedWorker {
        last_run: last_run(conn, worker_id)?,
        queue: queue(conn, worker_id)?,
        tool_decisions: tool_decisions(conn, worker_id)?,
        client_inputs: client_inputs(conn, worker_id)?,
        lease: row.seq_reserved,
        row,
        recent,
        older,
        damaged: None,
    })
}

/// A Worker that cannot be read: what of its row can be, and why not.
fn quarantined(worker_id: WorkerId, cols: &[Value], why: StoreError) -> SavedWorker {
    let name = |col: &Value| text(col).map(str::to_owned).unwrap_or_default();
    SavedWorker {
        row: WorkerRow {
            worker_id,
            display_name: name(&cols[1]),
            profile: name(&cols[2]),
            created_at: text(&cols[3])
                .and_then(from_json::<Timestamp>)
                .unwrap_or_else(|_| Timestamp::now()),
            usage: Usage::default(),
            seq_reserved: Seq(0),
        },
        lease: Seq(0),
        recent: Vec::new(),
        older: false,
        last_run: None,
        queue: Vec::new(),
        tool_decisions: Vec::new(),
        client_inputs: Vec::new(),
        damaged: Some(why.to_string()),
    }
}

/// Commits a first reservation of `block` more `seq`s for every Worker to
/// restore, before any is restored: restoring one then never waits for the
/// store (and never on a tokio thread).
pub fn reserve_ahead(
    conn: &mut Connection,
    saved: &mut [SavedWorker],
    block: u64,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(unavailable)?;
    for worker in saved.iter_mut().filter(|w| w.damaged.is_none()) {
        let upto = worker.row.seq_reserved.0.saturating_add(block);
        reserve(&tx, worker.row.worker_id, upto).map_err(|e| unavailable(&e))?;
        worker.lease = Seq(upto);
    }
    tx.commit().map_err(unavailable)
}

fn last_run(conn: &Connection, worker_id: WorkerId) -> Result<Option<LastRun>, StoreError> {
    let data: Option<String> = conn
        .query_row(
            "SELECT data FROM runs WHERE worker_id = ?1 ORDER BY id DESC LIMIT 1",
            params![worker_id.to_string()],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql)?;
    data.map(|d| from_json(&d)).transpose()
}

/// A person's decision on `tool` for the rest of the Worker's life.
fn put_tool_decision(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    tool: &str,
    decision: yoi_protocol::ApprovalDecision,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO tool_decisions (worker_id, tool, decision) VALUES (?1, ?2, ?3)
         ON CONFLICT(worker_id, tool) DO UPDATE SET decision = excluded.decision",
        params![worker_id.to_string(), tool, to_json(&decision)?],
    )
    .map_err(sql)?;
    Ok(())
}

/// Decisions a person made for the rest of a Worker's life, by tool.
fn tool_decisions(
    conn: &Connection,
    worker_id: WorkerId,
) -> Result<Vec<(String, yoi_protocol::ApprovalDecision)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT tool, decision FROM tool_decisions WHERE worker_id = ?1")
        .map_err(sql)?;
    let rows = stmt
        .query_map([worker_id.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (tool, decision) = row.map_err(sql)?;
        out.push((tool, from_json(&decision)?));
    }
    Ok(out)
}
