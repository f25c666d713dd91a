//! Workers saved by earlier versions, one JSON file each (in `workers/` of
//! the state directory, or in the directory itself for `yoi runtime serve
//! --state-dir`), are imported into the database on first start and then
//! moved aside: nothing is lost, and every Worker keeps its id.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde::Deserialize;
use yoi_protocol::{LastRun, Message, Seq, Timestamp, Usage, WorkerId};

use super::StoreError;

/// A Worker as versions before the store wrote it.
#[derive(Debug, Deserialize)]
struct JsonWorker {
    worker_id: WorkerId,
    display_name: String,
    profile: String,
    created_at: Timestamp,
    usage: Usage,
    last_seq: Seq,
    #[serde(default)]
    last_run: Option<LastRun>,
    transcript: Vec<Message>,
}

/// Where imported files are moved.
const IMPORTED: &str = "imported-json";

fn sql(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Imports every JSON Worker of `dir/workers/` and `dir/`, then moves the files to
/// `dir/imported-json/`. A file that does not read as a Worker stays where it is.
pub fn json_workers(conn: &mut Connection, dir: &Path) -> Result<(), StoreError> {
    let mut files = json_files(&dir.join("workers"));
    files.extend(json_files(dir));
    if files.is_empty() {
        return Ok(());
    }
    let mut imported = Vec::new();
    let tx = conn.transaction().map_err(sql)?;
    for file in files {
        let parsed = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<JsonWorker>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(worker) => {
                insert(&tx, &worker)?;
                imported.push(file);
            }
            Err(e) => {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                tracing::warn!(file = ?name, error = %e, "a saved worker was not imported; the file is left in place");
            }
        }
    }
    tx.commit().map_err(sql)?;
    move_aside(dir, &imported)
}

fn insert(tx: &rusqlite::Transaction<'_>, w: &JsonWorker) -> Result<(), StoreError> {
    let id = w.worker_id.to_string();
    let fresh = tx
        .execute(
            "INSERT OR IGNORE INTO workers (worker_id, display_name, profile, created_at, seq_reserved, usage)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                w.display_name,
                w.profile,
                serde_json::to_string(&w.created_at).map_err(sql)?,
                i64::try_from(w.last_seq.0).map_err(sql)?,
                serde_json::to_string(&w.usage).map_err(sql)?,
            ],
        )
        .map_err(sql)?;
    if fresh == 0 {
        // Imported before a crash that left the file in place.
        return Ok(());
    }
    for m in &w.transcript {
        tx.execute(
            "INSERT OR IGNORE INTO messages (message_id, worker_id, data) VALUES (?1, ?2, ?3)",
            params![m.id.to_string(), id, serde_json::to_string(m).map_err(sql)?],
        )
        .map_err(sql)?;
    }
    if let Some(run) = &w.last_run {
        tx.execute(
            "INSERT OR IGNORE INTO runs (run_id, worker_id, data) VALUES (?1, ?2, ?3)",
            params![
                run.run_id.to_string(),
                id,
                serde_json::to_string(run).map_err(sql)?
            ],
        )
        .map_err(sql)?;
    }
    Ok(())
}

fn move_aside(dir: &Path, files: &[PathBuf]) -> Result<(), StoreError> {
    let aside = dir.join(IMPORTED);
    std::fs::create_dir_all(&aside).map_err(|e| StoreError::Io(e.to_string()))?;
    for file in files {
        if let Some(name) = file.file_name() {
            std::fs::rename(file, aside.join(name)).map_err(|e| StoreError::Io(e.to_string()))?;
        }
    }
    // The old directory, once empty, goes too.
    let _ = std::fs::remove_dir(dir.join("workers"));
    Ok(())
}
