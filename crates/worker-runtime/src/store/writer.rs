//! The writer thread: owns the connection, applies what is queued in one
//! transaction per batch (so streaming pays no disk round trip per token),
//! then runs the replies that waited for the commit. Reads of older history
//! run on the same thread, after the writes queued before them.

use std::sync::atomic::Ordering;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use yoi_protocol::{LastRun, Message, MessageId, Seq, Timestamp, Usage, WorkerId};

use super::{AfterCommit, Op, Page, SavedWorker, StoreError, WorkerRow};

/// Most operations written in one transaction.
const BATCH: usize = 4096;

fn sql(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
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
) -> Result<mpsc::UnboundedSender<Op>, StoreError> {
    // Unbounded: a batch drains everything queued, and what actors queue is
    // bounded by what their runs produce between two commits.
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("yoi-store".to_owned())
        .spawn(move || {
            let closed = run(conn, rx);
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
    mut rx: mpsc::UnboundedReceiver<Op>,
) -> Option<std::sync::mpsc::Sender<()>> {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let (after, close) = write_batch(&mut conn, batch);
        for reply in after {
            reply();
        }
        if close.is_some() {
            return close;
        }
    }
    None
}

/// What a batch leaves to do once committed.
type Afterwards = (Vec<AfterCommit>, Option<std::sync::mpsc::Sender<()>>);

fn write_batch(conn: &mut Connection, batch: Vec<Op>) -> Afterwards {
    let mut after: Vec<AfterCommit> = Vec::new();
    let mut close = None;
    let mut reads = Vec::new();
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "the store cannot write; a batch was lost");
            return (after, None);
        }
    };
    for op in batch {
        match op {
            Op::AfterCommit(reply) => after.push(reply),
            Op::Close { done } => close = Some(done),
            Op::Page {
                worker_id,
                before,
                limit,
                reply,
            } => reads.push((worker_id, before, limit, reply)),
            Op::CreateWorker { row, done } => {
                let result = insert_worker(&tx, &row);
                after.push(Box::new(move || {
                    let _ = done.send(result);
                }));
            }
            Op::Reserve {
                worker_id,
                upto,
                confirmed,
                done,
            } => {
                log(reserve(&tx, worker_id, upto));
                after.push(Box::new(move || {
                    confirmed.fetch_max(upto, Ordering::AcqRel);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }));
            }
            other => log(apply(&tx, other)),
        }
    }
    if let Err(e) = tx.commit() {
        tracing::error!(error = %e, "the store could not commit; a batch was lost");
    }
    for (worker_id, before, limit, reply) in reads {
        let page = page(conn, worker_id, before, limit);
        after.push(Box::new(move || reply(page)));
    }
    (after, close)
}

fn log(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "a write to the store failed");
    }
}

fn insert_worker(tx: &Transaction<'_>, row: &WorkerRow) -> Result<(), StoreError> {
    tx.execute(
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
    tx.execute(
        "UPDATE workers SET seq_reserved = max(seq_reserved, ?2) WHERE worker_id = ?1",
        params![worker_id.to_string(), i64::try_from(upto).map_err(sql)?],
    )
    .map_err(sql)?;
    Ok(())
}

fn apply(tx: &Transaction<'_>, op: Op) -> Result<(), StoreError> {
    match op {
        Op::Message { worker_id, message } => put_message(tx, worker_id, &message)?,
        Op::Queued { worker_id, message } => {
            tx.execute(
                "INSERT OR IGNORE INTO queued_inputs (message_id, worker_id, data) VALUES (?1, ?2, ?3)",
                params![
                    message.id.to_string(),
                    worker_id.to_string(),
                    to_json(&message)?
                ],
            )
            .map_err(sql)?;
        }
        Op::Unqueued {
            message_id,
            started,
        } => {
            tx.execute(
                "DELETE FROM queued_inputs WHERE message_id = ?1",
                params![message_id.to_string()],
            )
            .map_err(sql)?;
            if let Some((worker_id, message)) = started {
                put_message(tx, worker_id, &message)?;
            }
        }
        Op::Run { worker_id, run } => {
            tx.execute(
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
            tx.execute(
                "UPDATE workers SET usage = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), to_json(&usage)?],
            )
            .map_err(sql)?;
        }
        Op::Stopped { worker_id, at } => {
            tx.execute(
                "UPDATE workers SET stopped_at = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), to_json(&at)?],
            )
            .map_err(sql)?;
        }
        Op::Rename {
            worker_id,
            display_name,
        } => {
            tx.execute(
                "UPDATE workers SET display_name = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), display_name],
            )
            .map_err(sql)?;
        }
        Op::ToolDecision {
            worker_id,
            tool,
            decision,
        } => {
            tx.execute(
                "INSERT INTO tool_decisions (worker_id, tool, decision) VALUES (?1, ?2, ?3)
                 ON CONFLICT(worker_id, tool) DO UPDATE SET decision = excluded.decision",
                params![worker_id.to_string(), tool, to_json(&decision)?],
            )
            .map_err(sql)?;
        }
        Op::Settle { worker_id, last } => {
            tx.execute(
                "UPDATE workers SET seq_reserved = ?2 WHERE worker_id = ?1",
                params![worker_id.to_string(), i64::try_from(last.0).map_err(sql)?],
            )
            .map_err(sql)?;
        }
        // Handled by the batch itself.
        Op::CreateWorker { .. }
        | Op::Reserve { .. }
        | Op::Page { .. }
        | Op::AfterCommit(_)
        | Op::Close { .. } => {}
    }
    Ok(())
}

fn put_message(
    tx: &Transaction<'_>,
    worker_id: WorkerId,
    message: &Message,
) -> Result<(), StoreError> {
    tx.execute(
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
/// `recent` messages and its last run.
pub fn load(conn: &Connection, recent: usize) -> Result<Vec<SavedWorker>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT worker_id, display_name, profile, created_at, seq_reserved, usage
             FROM workers WHERE stopped_at IS NULL ORDER BY rowid",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, display_name, profile, created_at, seq, usage) = row.map_err(sql)?;
        let worker_id: WorkerId = id.parse().map_err(sql)?;
        let row = WorkerRow {
            worker_id,
            display_name,
            profile,
            created_at: from_json::<Timestamp>(&created_at)?,
            usage: from_json::<Usage>(&usage)?,
            seq_reserved: Seq(u64::try_from(seq).map_err(sql)?),
        };
        let (recent, older) = newest_messages(conn, worker_id, i64::MAX, recent)?;
        out.push(SavedWorker {
            last_run: last_run(conn, worker_id)?,
            queue: queue(conn, worker_id)?,
            tool_decisions: tool_decisions(conn, worker_id)?,
            row,
            recent,
            older,
        });
    }
    Ok(out)
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
