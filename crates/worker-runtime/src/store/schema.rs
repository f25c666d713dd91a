//! Opening the database: refuse a damaged one, create a new one, migrate an
//! old one. The schema's version is SQLite's `user_version`; each migration
//! takes it one step up, in one transaction.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// The migrations, in order: `MIGRATIONS[n]` takes version `n` to `n + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE workers (
    worker_id    TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    profile      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    stopped_at   TEXT,
    -- No seq above this was handed out: a restarted worker goes on above it.
    seq_reserved INTEGER NOT NULL,
    usage        TEXT NOT NULL
);
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    worker_id  TEXT NOT NULL REFERENCES workers(worker_id),
    data       TEXT NOT NULL
);
CREATE INDEX messages_by_worker ON messages(worker_id, id);
CREATE TABLE runs (
    id        INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL UNIQUE,
    worker_id TEXT NOT NULL REFERENCES workers(worker_id),
    data      TEXT NOT NULL
);
CREATE INDEX runs_by_worker ON runs(worker_id, id);
",
    r"
-- Inputs waiting in a worker's queue, in order of `id`; `data` is the user
-- message they become when their run starts.
CREATE TABLE queued_inputs (
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    worker_id  TEXT NOT NULL REFERENCES workers(worker_id),
    data       TEXT NOT NULL
);
CREATE INDEX queued_inputs_by_worker ON queued_inputs(worker_id, id);
",
    r"
-- Tool decisions a person made for the rest of a worker's life
-- (`scope: worker`); `decision` is JSON: the string allow or deny.
CREATE TABLE tool_decisions (
    worker_id TEXT NOT NULL REFERENCES workers(worker_id),
    tool      TEXT NOT NULL,
    decision  TEXT NOT NULL,
    PRIMARY KEY (worker_id, tool)
);
",
    r"
-- Usage over time (GET /api/usage): every run's end adds itself to its UTC
-- day's row of its worker, profile and model (usage_daily), and of its
-- profile and model (usage_by_day, which answers every query that does not
-- group by worker without reading a row per worker), in the transaction
-- that stores the end. Runs that ended before these tables existed are
-- added once here, on the day they started (their run id's time) and with
-- no model (''), which runs did not keep.
CREATE TABLE usage_daily (
    day               TEXT NOT NULL,
    worker_id         TEXT NOT NULL,
    profile           TEXT NOT NULL,
    model             TEXT NOT NULL,
    runs              INTEGER NOT NULL,
    completed         INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    cancelled         INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    run_ms            INTEGER NOT NULL,
    tool_calls        INTEGER NOT NULL,
    PRIMARY KEY (day, worker_id, profile, model)
) WITHOUT ROWID;
WITH calls AS (
    SELECT json_extract(data, '$.run_id') AS run_id,
           sum(coalesce(json_array_length(data, '$.tool_calls'), 0)) AS n
    FROM messages WHERE json_valid(data) AND json_extract(data, '$.role') = 'assistant'
    GROUP BY 1
), ended AS (
    SELECT r.run_id, r.worker_id, w.profile,
           json_extract(r.data, '$.state') AS state,
           coalesce(json_extract(r.data, '$.usage.prompt_tokens'), 0) AS prompt,
           coalesce(json_extract(r.data, '$.usage.completion_tokens'), 0) AS completion,
           coalesce(json_extract(r.data, '$.duration_ms'), 0) AS ms,
           coalesce(calls.n, 0) AS tool_calls,
           -- The first 10 characters of a ULID are its milliseconds, in Crockford's base 32.
           date((
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 1, 1)) - 1) << 45) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 2, 1)) - 1) << 40) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 3, 1)) - 1) << 35) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 4, 1)) - 1) << 30) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 5, 1)) - 1) << 25) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 6, 1)) - 1) << 20) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 7, 1)) - 1) << 15) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 8, 1)) - 1) << 10) +
               ((instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 9, 1)) - 1) << 5) +
               (instr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(r.run_id, 10, 1)) - 1)
           ) / 1000, 'unixepoch') AS day
    FROM runs r JOIN workers w ON w.worker_id = r.worker_id
    LEFT JOIN calls ON calls.run_id = r.run_id
    WHERE json_valid(r.data) AND json_extract(r.data, '$.state') IN ('completed', 'failed', 'cancelled')
)
INSERT INTO usage_daily
SELECT day, worker_id, profile, '', count(*),
       sum(state = 'completed'), sum(state = 'failed'), sum(state = 'cancelled'),
       sum(prompt), sum(completion), sum(ms), sum(tool_calls)
FROM ended WHERE day IS NOT NULL
GROUP BY day, worker_id, profile;
CREATE TABLE usage_by_day (
    day               TEXT NOT NULL,
    profile           TEXT NOT NULL,
    model             TEXT NOT NULL,
    runs              INTEGER NOT NULL,
    completed         INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    cancelled         INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    run_ms            INTEGER NOT NULL,
    tool_calls        INTEGER NOT NULL,
    PRIMARY KEY (day, profile, model)
) WITHOUT ROWID;
INSERT INTO usage_by_day
SELECT day, profile, model, sum(runs), sum(completed), sum(failed), sum(cancelled),
       sum(prompt_tokens), sum(completion_tokens), sum(run_ms), sum(tool_calls)
FROM usage_daily GROUP BY day, profile, model;
",
    r"
-- The answer to each input sent with a client_message_id, written in the
-- same transaction as the input, so that a retry after a restart or a
-- crash gets the same answer and runs nothing. The newest
-- `store::CLIENT_IDS_KEPT` of each worker are kept.
CREATE TABLE client_inputs (
    id                INTEGER PRIMARY KEY,
    worker_id         TEXT NOT NULL REFERENCES workers(worker_id),
    client_message_id TEXT NOT NULL,
    answer            TEXT NOT NULL,
    UNIQUE (worker_id, client_message_id)
);
CREATE INDEX client_inputs_by_worker ON client_inputs(worker_id, id);
",
    r"
-- Search across conversations (GET /api/search). One row per stored
-- message that is not streaming: its text, then each tool call's name and
-- output. The trigram tokenizer indexes every 3 characters, so a word is
-- found inside a sentence whatever the script: Japanese and Chinese write
-- no spaces between words, which the unicode61 tokenizer needs. Queries
-- of words under 3 characters cannot use it (see store::search). The index
-- is contentless (the text stays in `messages` only) and kept by triggers,
-- so it changes in the transaction that changes the message: never behind,
-- never ahead. A streaming answer is indexed once it ends (its partial
-- flushes would rewrite its row again and again).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'trigram'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN json_valid(new.data) AND json_extract(new.data, '$.state') <> 'streaming'
BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id,
        coalesce(json_extract(new.data, '$.text'), '') || coalesce((
            SELECT group_concat(char(10) || coalesce(json_extract(value, '$.name'), '')
                || ' ' || coalesce(json_extract(value, '$.output'), ''), '')
            FROM json_each(new.data, '$.tool_calls')), ''));
END;
-- An update touches the index only when the old or the new version is
-- indexed: a streaming answer's partial flushes cost it nothing. One
-- trigger, so that the old row always leaves before the new one enters.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF data ON messages
WHEN (json_valid(old.data) AND json_extract(old.data, '$.state') <> 'streaming')
  OR (json_valid(new.data) AND json_extract(new.data, '$.state') <> 'streaming')
BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    INSERT INTO messages_fts (rowid, body)
    SELECT new.id,
        coalesce(json_extract(new.data, '$.text'), '') || coalesce((
            SELECT group_concat(char(10) || coalesce(json_extract(value, '$.name'), '')
                || ' ' || coalesce(json_extract(value, '$.output'), ''), '')
            FROM json_each(new.data, '$.tool_calls')), '')
    WHERE json_valid(new.data) AND json_extract(new.data, '$.state') <> 'streaming';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
END;
INSERT INTO messages_fts (rowid, body)
SELECT m.id,
    coalesce(json_extract(m.data, '$.text'), '') || coalesce((
        SELECT group_concat(char(10) || coalesce(json_extract(value, '$.name'), '')
            || ' ' || coalesce(json_extract(value, '$.output'), ''), '')
        FROM json_each(m.data, '$.tool_calls')), '')
FROM messages m
WHERE json_valid(m.data) AND json_extract(m.data, '$.state') <> 'streaming';
",
];

fn damaged(file: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Damaged {
        file: file.to_owned(),
        why: why.to_string(),
    }
}

/// Opens `path`, creating it only when it does not exist yet.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let existed = path.exists();
    let flags = if existed {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| damaged(&file, e))?;
    if !existed {
        restrict(path)?;
    }
    check(&conn, &file)?;
    configure(&conn).map_err(|e| damaged(&file, e))?;
    migrate(&mut conn, &file)?;
    Ok(conn)
}

/// Only the owner may read the database: it holds every conversation.
fn restrict(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::Io(e.to_string()))
}

/// The database must read as SQLite and pass its quick integrity check.
fn check(conn: &Connection, file: &str) -> Result<(), StoreError> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| damaged(file, e))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(damaged(
            file,
            format!("its integrity check failed ({verdict})"),
        ))
    }
}

/// Caps the database at about `bytes` (`limits.store_bytes`): past it
/// SQLite answers every write as it would on a full disk. A database
/// already larger keeps its size as the cap.
pub fn cap_size(conn: &Connection, bytes: u64) -> Result<(), StoreError> {
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .map_err(|e| StoreError::Sql(e.to_string()))?;
    let page = u64::try_from(page).unwrap_or(4096).max(512);
    let pages = i64::try_from(bytes / page).unwrap_or(i64::MAX).max(1);
    conn.pragma_update(None, "max_page_count", pages)
        .map_err(|e| StoreError::Sql(e.to_string()))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never wait for the writer. NORMAL: a commit survives the
    // process being killed; only a power loss may take the last ones back.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Room for every statement the writer runs (it prepares each once).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn migrate(conn: &mut Connection, file: &str) -> Result<(), StoreError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| damaged(file, e))?;
    if version > known {
        return Err(StoreError::TooNew {
            file: file.to_owned(),
            found: version,
            known,
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|e| damaged(file, e))?;
        if tables > 0 {
            return Err(damaged(file, "it is not a yoi database"));
        }
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction().map_err(|e| damaged(file, e))?;
        tx.execute_batch(sql).map_err(|e| damaged(file, e))?;
        let next = i64::try_from(from + 1).unwrap_or(i64::MAX);
        tx.pragma_update(None, "user_version", next)
            .map_err(|e| damaged(file, e))?;
        tx.commit().map_err(|e| damaged(file, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "yoi-schema-{name}-{}-{}",
            std::process::id(),
            yoi_protocol::WorkerId::new()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_database_of_the_first_schema_gains_the_later_tables() {
        let dir = scratch("v1");
        let path = dir.join("yoi.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let conn = open(&path).unwrap();
        assert_eq!(version(&conn), i64::try_from(MIGRATIONS.len()).unwrap());
        for table in ["queued_inputs", "tool_decisions", "client_inputs"] {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap();
            assert_eq!(rows, 0, "{table}");
        }
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Runs that ended before usage was kept count once, on the day their
    /// id was made, with no model; a run still in flight does not.
    #[test]
    fn the_usage_roll_up_starts_with_the_runs_already_stored() {
        let dir = scratch("usage");
        let path = dir.join("yoi.db");
        let version_before_usage = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE usage_daily"))
            .unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..version_before_usage] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", version_before_usage as i64)
                .unwrap();
            conn.execute(
                "INSERT INTO workers (worker_id, display_name, profile, created_at, stopped_at, seq_reserved, usage) VALUES ('W1', 'w', 'helper', '\"x\"', NULL, 0, '{}')",
                [],
            )
            .unwrap();
            // The time of 01KBJ00000... is 2025-12-03T11:36:36.608Z.
            for (run_id, data) in [
                (
                    "01KBJ00000000000000000000A",
                    r#"{"run_id":"01KBJ00000000000000000000A","state":"completed","usage":{"prompt_tokens":10,"completion_tokens":1},"duration_ms":5}"#,
                ),
                (
                    "01KBJ00000000000000000000B",
                    r#"{"run_id":"01KBJ00000000000000000000B","state":"failed","usage":{"prompt_tokens":20,"completion_tokens":2},"duration_ms":7}"#,
                ),
                (
                    "01KBJ00000000000000000000C",
                    r#"{"run_id":"01KBJ00000000000000000000C","state":"running"}"#,
                ),
            ] {
                conn.execute(
                    "INSERT INTO runs (run_id, worker_id, data) VALUES (?1, 'W1', ?2)",
                    [run_id, data],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO messages (message_id, worker_id, data) VALUES ('M1', 'W1', ?1)",
                [r#"{"run_id":"01KBJ00000000000000000000A","role":"assistant","tool_calls":[{},{}]}"#],
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        let row: (String, String, String, i64, i64, i64, i64, i64, i64) = conn
            .query_row(
                "SELECT day, profile, model, runs, completed, failed, prompt_tokens, run_ms, tool_calls FROM usage_daily",
                [],
                |r| {
                    Ok((
                        r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?,
                        r.get(6)?, r.get(7)?, r.get(8)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "2025-12-03".into(),
                "helper".into(),
                String::new(),
                2,
                1,
                1,
                30,
                12,
                2
            )
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_database_has_every_migration() {
        let dir = scratch("new");
        let conn = open(&dir.join("yoi.db")).unwrap();
        assert_eq!(version(&conn), i64::try_from(MIGRATIONS.len()).unwrap());
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }
}
