//! Search across the stored conversations, and the page of a transcript
//! around one message, read from the store on a read-only connection of
//! their own in a blocking task (like [`super::usage`]): never on the
//! writer thread, never on a Worker.
//!
//! The index is `messages_fts` (FTS5, trigram tokenizer; see the migration
//! in `schema.rs`). The client's words never reach FTS5 as syntax: each
//! word is quoted as a phrase (`"` doubled), so `"`, `*`, `:`, `NEAR` or
//! `(` are text to find. A trigram index finds words of at least 3
//! characters; shorter words (`Go`, `会議`) are matched with `LIKE`: as a
//! filter on the index's hits when the query also holds a longer word, else
//! over the newest [`SHORT_QUERY_SCAN`] messages only (bounded, so a
//! two-letter query never reads the whole history).

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use yoi_protocol::{
    Message, RuntimeId, SearchHit, SearchRequest, Seq, Snippet, TranscriptAnchor, WorkerId,
};

use super::StoreError;

/// Messages a query of only short words reads, newest first.
pub const SHORT_QUERY_SCAN: usize = 5000;

/// Shortest word the trigram index can find.
const TRIGRAM: usize = 3;

/// The indexed body of a message (SQL: `BODY`), rebuilt from its row.
const BODY: &str = "coalesce(json_extract(m.data, '$.text'), '') || coalesce((
        SELECT group_concat(char(10) || coalesce(json_extract(value, '$.name'), '')
            || ' ' || coalesce(json_extract(value, '$.output'), ''), '')
        FROM json_each(m.data, '$.tool_calls')), '')";

fn sql(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
}

fn read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    Ok(conn)
}

/// What a snippet is cut from: the message's text, then each tool call's
/// name and output (what the index holds).
pub fn body(message: &Message) -> String {
    let mut body = message.text.clone();
    for call in &message.tool_calls {
        body.push('\n');
        body.push_str(&call.name);
        body.push(' ');
        body.push_str(call.output.as_deref().unwrap_or_default());
    }
    body
}

/// A word as an FTS5 phrase: in double quotes, its own quotes doubled.
fn phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// A word as a `LIKE` pattern (escape `\`).
fn like(term: &str) -> String {
    let mut out = String::from("%");
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The best `request.depth()` hits of the database at `path`, best first.
pub fn query(
    path: &Path,
    runtime_id: &RuntimeId,
    request: &SearchRequest,
) -> Result<Vec<SearchHit>, StoreError> {
    let conn = read_only(path)?;
    query_on(&conn, runtime_id, request)
}

pub(super) fn query_on(
    conn: &Connection,
    runtime_id: &RuntimeId,
    request: &SearchRequest,
) -> Result<Vec<SearchHit>, StoreError> {
    let terms = request.terms();
    let (long, short): (Vec<&String>, Vec<&String>) =
        terms.iter().partition(|t| t.chars().count() >= TRIGRAM);
    let mut args: Vec<Value> = Vec::new();
    let mut filters: Vec<String> = Vec::new();
    for term in &short {
        args.push(Value::Text(like(term)));
        filters.push(format!("({BODY}) LIKE ?{} ESCAPE '\\'", args.len()));
    }
    if let Some(worker_id) = request.worker_id {
        args.push(Value::Text(worker_id.to_string()));
        filters.push(format!("m.worker_id = ?{}", args.len()));
    }
    args.push(Value::Integer(
        i64::try_from(request.depth()).unwrap_or(i64::MAX),
    ));
    let depth = args.len();
    let text = if long.is_empty() {
        // Only short words: the newest messages, by LIKE; all rank alike.
        args.push(Value::Integer(SHORT_QUERY_SCAN as i64));
        let scan = args.len();
        let worker = if request.worker_id.is_some() {
            format!("WHERE worker_id = ?{}", depth - 1)
        } else {
            String::new()
        };
        format!(
            "SELECT m.message_id, m.worker_id, m.data, w.display_name, 0.0
             FROM (SELECT id, message_id, worker_id, data FROM messages {worker}
                   ORDER BY id DESC LIMIT ?{scan}) m
             JOIN workers w ON w.worker_id = m.worker_id
             WHERE json_valid(m.data) AND json_extract(m.data, '$.state') <> 'streaming'
               AND {filters}
             ORDER BY m.id DESC LIMIT ?{depth}",
            filters = filters.join(" AND ")
        )
    } else {
        let matching: Vec<String> = long.iter().map(|t| phrase(t)).collect();
        args.push(Value::Text(matching.join(" ")));
        let fts = args.len();
        let and = filters
            .iter()
            .map(|f| format!(" AND {f}"))
            .collect::<String>();
        format!(
            "SELECT m.message_id, m.worker_id, m.data, w.display_name, f.rank
             FROM messages_fts f
             JOIN messages m ON m.id = f.rowid
             JOIN workers w ON w.worker_id = m.worker_id
             WHERE messages_fts MATCH ?{fts}{and}
             ORDER BY f.rank, m.id DESC LIMIT ?{depth}"
        )
    };
    read_hits(conn, &text, &args, runtime_id, &terms)
}

/// Runs the search `text` and turns its rows into hits.
fn read_hits(
    conn: &Connection,
    text: &str,
    args: &[Value],
    runtime_id: &RuntimeId,
    terms: &[String],
) -> Result<Vec<SearchHit>, StoreError> {
    let mut stmt = conn.prepare(text).map_err(sql)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |row| {
            Ok((
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, f64>(4)?,
            ))
        })
        .map_err(sql)?;
    let mut hits = Vec::new();
    for row in rows {
        let (worker_id, data, display_name, rank) = row.map_err(sql)?;
        let (Ok(worker_id), Ok(message)) = (
            worker_id.parse::<WorkerId>(),
            serde_json::from_str::<Message>(&data),
        ) else {
            // A row this version cannot read is left out, not a failed search.
            tracing::warn!(%worker_id, "a stored message cannot be read; left out of a search");
            continue;
        };
        hits.push(SearchHit {
            runtime_id: runtime_id.clone(),
            worker_id,
            display_name,
            message_id: message.id,
            role: message.role,
            at: message.at,
            snippet: Snippet::build(&body(&message), terms),
            rank,
        });
    }
    Ok(hits)
}

/// A page of a stored transcript, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub messages: Vec<Message>,
    /// Older messages exist than those returned.
    pub older: bool,
    /// Newer messages exist than those returned.
    pub newer: bool,
    /// The worker's reserved `seq` (its watermark when it no longer runs).
    pub seq: Seq,
}

/// The page of `worker_id`'s transcript at `anchor`, at most `limit`
/// messages; `None` when the store has no such worker.
pub fn window(
    path: &Path,
    worker_id: WorkerId,
    anchor: TranscriptAnchor,
    limit: usize,
) -> Result<Option<Window>, StoreError> {
    let conn = read_only(path)?;
    window_on(&conn, worker_id, anchor, limit)
}

pub(super) fn window_on(
    conn: &Connection,
    worker_id: WorkerId,
    anchor: TranscriptAnchor,
    limit: usize,
) -> Result<Option<Window>, StoreError> {
    let worker = worker_id.to_string();
    let Some(seq) = conn
        .query_row(
            "SELECT seq_reserved FROM workers WHERE worker_id = ?1",
            params![worker],
            |row| row.get::<_, i64>(0),
        )
        .optional()
        .map_err(sql)?
    else {
        return Ok(None);
    };
    let id = match anchor {
        TranscriptAnchor::Around(id) | TranscriptAnchor::After(id) => id,
    };
    let pivot: i64 = conn
        .query_row(
            "SELECT id FROM messages WHERE message_id = ?1 AND worker_id = ?2",
            params![id.to_string(), worker],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql)?
        .ok_or(StoreError::UnknownMessage(id))?;
    let (messages, older, newer) = match anchor {
        TranscriptAnchor::Around(_) => {
            // Half before the message, the message and the rest after it;
            // at an end of the conversation, the other side fills the page.
            let (mut before, more_before) =
                side(conn, &worker, "id < ?2 ORDER BY id DESC", pivot, limit)?;
            let (mut after, more_after) =
                side(conn, &worker, "id >= ?2 ORDER BY id ASC", pivot, limit)?;
            let want_before = limit.saturating_sub(1) / 2;
            let take_before = want_before.max(limit.saturating_sub(after.len()));
            let take_before = take_before.min(before.len());
            let take_after = limit.saturating_sub(take_before).min(after.len());
            let older = more_before || before.len() > take_before;
            let newer = more_after || after.len() > take_after;
            before.truncate(take_before);
            before.reverse();
            after.truncate(take_after);
            before.extend(after);
            (before, older, newer)
        }
        TranscriptAnchor::After(_) => {
            let (after, newer) = side(conn, &worker, "id > ?2 ORDER BY id ASC", pivot, limit)?;
            // The anchor itself is older than the page.
            (after, true, newer)
        }
    };
    Ok(Some(Window {
        messages,
        older,
        newer,
        seq: Seq(u64::try_from(seq).unwrap_or(0)),
    }))
}

/// Up to `limit` messages on one side of `at` (in `order`'s order) and
/// whether more are there.
fn side(
    conn: &Connection,
    worker: &str,
    order: &str,
    at: i64,
    limit: usize,
) -> Result<(Vec<Message>, bool), StoreError> {
    // `order` is one of the two fixed clauses above, never the client's.
    let text = format!("SELECT data FROM messages WHERE worker_id = ?1 AND {order} LIMIT ?3");
    let mut stmt = conn.prepare_cached(&text).map_err(sql)?;
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![worker, at, fetch], |row| row.get::<_, String>(0))
        .map_err(sql)?;
    let mut messages = Vec::new();
    for row in rows {
        let data = row.map_err(sql)?;
        messages.push(serde_json::from_str::<Message>(&data).map_err(sql)?);
    }
    let more = messages.len() > limit;
    messages.truncate(limit);
    Ok((messages, more))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rusqlite::params;

    use super::*;

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "yoi-search-{}-{}",
            std::process::id(),
            WorkerId::new()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("yoi.db")
    }

    fn message(text: &str, state: &str) -> String {
        serde_json::json!({
            "id": yoi_protocol::MessageId::new().to_string(),
            "role": "assistant",
            "text": text,
            "at": "2026-12-03T10:00:00Z",
            "run_id": yoi_protocol::RunId::new().to_string(),
            "state": state,
            "tool_calls": [{
                "call_id": "call_1", "name": "yoi.list_workers", "arguments": {},
                "state": "ok", "round": 1, "output": "found the capybara"
            }],
        })
        .to_string()
    }

    fn count(conn: &Connection, q: &str) -> usize {
        let request = SearchRequest::parse(Some(q), None, None, None).unwrap();
        query_on(conn, &RuntimeId::parse("rt").unwrap(), &request)
            .unwrap()
            .len()
    }

    /// A database made before search existed is indexed by the migration;
    /// later writes keep the index in step (a streaming answer once it ends).
    #[test]
    fn the_migration_indexes_stored_messages_and_triggers_keep_it_in_step() {
        let path = scratch();
        let before_search = super::super::schema::MIGRATIONS
            .iter()
            .position(|m| m.contains("messages_fts"))
            .unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &super::super::schema::MIGRATIONS[..before_search] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", before_search as i64)
                .unwrap();
            conn.execute(
                "INSERT INTO workers (worker_id, display_name, profile, created_at, seq_reserved, usage) VALUES ('01KBJ00000000000000000000W', 'w', 'p', '\"x\"', 0, '{}')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages (message_id, worker_id, data) VALUES ('M1', '01KBJ00000000000000000000W', ?1)",
                [message("an old kookaburra", "complete")],
            )
            .unwrap();
        }
        let conn = super::super::schema::open(&path).unwrap();
        assert_eq!(count(&conn, "kookaburra"), 1);
        // Tool names and results are indexed too.
        assert_eq!(count(&conn, "capybara"), 1);
        assert_eq!(count(&conn, "list_workers"), 1);

        conn.execute(
            "INSERT INTO messages (message_id, worker_id, data) VALUES ('M2', '01KBJ00000000000000000000W', ?1)",
            [message("half a sentence", "streaming")],
        )
        .unwrap();
        assert_eq!(count(&conn, "sentence"), 0);
        conn.execute(
            "UPDATE messages SET data = ?1 WHERE message_id = 'M2'",
            params![message("half a sentence, then the end", "complete")],
        )
        .unwrap();
        assert_eq!(count(&conn, "sentence"), 1);
        conn.execute(
            "UPDATE messages SET data = ?1 WHERE message_id = 'M1'",
            params![message("rewritten", "complete")],
        )
        .unwrap();
        assert_eq!(count(&conn, "kookaburra"), 0);
        assert_eq!(count(&conn, "rewritten"), 1);
        drop(conn);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
