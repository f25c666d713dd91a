//! Workers survive a backend restart: each Worker's transcript, usage and
//! last `seq` are saved to `<state_dir>/<worker_id>.json` after every input
//! and every run's end, and read back when the Runtime starts.
//!
//! The event ring itself is not saved: a client that reconnects with the
//! cursor it had gets nothing replayed (its cursor equals the saved `seq`) or
//! a reset snapshot, never a gap. Writes happen on a task of their own, off
//! the Worker's mailbox; only the newest state is ever written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yoi_protocol::{LastRun, Message, Seq, Timestamp, Usage, WorkerId};

const FORMAT_VERSION: u32 = 1;

/// What is kept of a Worker across restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedWorker {
    pub version: u32,
    pub worker_id: WorkerId,
    pub display_name: String,
    pub profile: String,
    pub created_at: Timestamp,
    pub usage: Usage,
    pub last_seq: Seq,
    #[serde(default)]
    pub last_run: Option<LastRun>,
    pub transcript: Vec<Message>,
}

impl SavedWorker {
    pub fn new_version() -> u32 {
        FORMAT_VERSION
    }
}

/// The newest state of one Worker, or that it was deleted.
#[derive(Debug, Clone)]
pub enum SaveState {
    Nothing,
    Keep(Arc<SavedWorker>),
    Forget,
}

/// Starts the writer task of one Worker. Dropping the sender makes the task
/// write the last state it was given and end.
pub fn start_saver(
    dir: PathBuf,
    worker_id: WorkerId,
) -> (watch::Sender<SaveState>, JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(SaveState::Nothing);
    let task = tokio::spawn(async move {
        let path = dir.join(format!("{worker_id}.json"));
        loop {
            let closed = rx.changed().await.is_err();
            let state = rx.borrow_and_update().clone();
            match state {
                SaveState::Nothing => {}
                SaveState::Keep(saved) => {
                    if let Err(e) = write_atomically(&path, &saved).await {
                        tracing::warn!(%worker_id, error = %e, "worker state not saved");
                    }
                }
                SaveState::Forget => {
                    let _ = tokio::fs::remove_file(&path).await;
                    return;
                }
            }
            if closed {
                return;
            }
        }
    });
    (tx, task)
}

async fn write_atomically(path: &Path, saved: &SavedWorker) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Creates the state directory, private to the user.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Every saved Worker in the directory, oldest first. Unreadable files are
/// skipped with a warning rather than stopping the Runtime.
pub fn load_all(dir: &Path) -> Vec<SavedWorker> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<SavedWorker> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parsed = std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<SavedWorker>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(saved) if saved.version == FORMAT_VERSION => Some(saved),
                Ok(_) => {
                    tracing::warn!(file = %name, "saved worker of another format version skipped");
                    None
                }
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "saved worker unreadable; skipped");
                    None
                }
            }
        })
        .collect();
    out.sort_by_key(|s| s.created_at);
    out
}
