//! A `local` runtime: the backend starts `yoi runtime serve --unix` as a
//! child process and talks to it over the socket with the same client as a
//! `remote` one ([`crate::remote::RemoteRuntime`]).
//!
//! The socket lives in a private directory (mode 0700) made for this backend
//! and runtime under `$XDG_RUNTIME_DIR` or the temporary directory; the child
//! makes the socket itself owner-only. A supervisor task restarts the child
//! with backoff whenever it exits; the backoff starts over once a child has
//! run for a while. The child watches its stdin: when the backend goes away,
//! however it ends, the pipe closes and the child shuts down gracefully. On
//! [`LocalProcess::stop`] the supervisor closes that pipe, waits for the
//! child to end its runs, and kills it if it does not.
//!
//! Neither the directory nor the socket path is ever logged at info level or
//! shown to a client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use yoi_protocol::{RuntimeId, RuntimeKind};

use futures::future::BoxFuture;

use crate::error::RegistryError;
use crate::remote::{Endpoint, OwnedProcess, RemoteConfig, RemoteRuntime, Timing};

/// Name of the socket inside the private directory.
const SOCKET_NAME: &str = "runtime.sock";
/// A child that ran this long was healthy: the next restart starts the backoff over.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// Longest delay between restarts.
const RESTART_MAX: Duration = Duration::from_secs(10);
/// How long a stopping child may take to end its runs before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start a local runtime.
#[derive(Clone)]
pub struct LocalConfig {
    pub runtime_id: RuntimeId,
    pub display_name: String,
    /// The `yoi` executable (normally `std::env::current_exe()`).
    pub program: PathBuf,
    /// The child's working directory (the workspace).
    pub workdir: PathBuf,
    /// The child's whole environment: it inherits nothing else.
    pub env: Vec<(String, String)>,
    /// Where the child saves its Workers, so that they survive its restarts.
    pub state_dir: Option<PathBuf>,
    /// The backend's config file: the child reads its provider, language
    /// and profiles from it (`--config`), so it offers the backend's profiles.
    pub config_file: Option<PathBuf>,
    pub timing: Timing,
}

impl std::fmt::Debug for LocalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment holds the provider's key.
        f.debug_struct("LocalConfig")
            .field("runtime_id", &self.runtime_id)
            .finish_non_exhaustive()
    }
}

/// The supervised child process of a local runtime.
pub struct LocalProcess {
    stop: watch::Sender<bool>,
    /// How many times the child exited by itself (see [`OwnedProcess::exits`]).
    exits: watch::Receiver<u64>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl LocalProcess {
    /// Tells the supervisor to stop the child, and waits until it has.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.supervisor.lock().await.take() {
            if tokio::time::timeout(STOP_GRACE * 2, task).await.is_err() {
                tracing::warn!("a local runtime did not stop in time");
            }
        }
    }
}

impl OwnedProcess for LocalProcess {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(LocalProcess::stop(self))
    }

    fn exits(&self) -> Option<watch::Receiver<u64>> {
        Some(self.exits.clone())
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a local runtime: its private directory, its supervised child, and
/// the client that talks to it.
pub async fn start_local(config: LocalConfig) -> Result<RemoteRuntime, RegistryError> {
    let dir = private_dir(&config.runtime_id).map_err(|e| {
        tracing::debug!(error = %e, "cannot make the private directory of a local runtime");
        RegistryError::Config(format!(
            "cannot make a private directory for local runtime `{}`",
            config.runtime_id
        ))
    })?;
    let socket = dir.join(SOCKET_NAME);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (exits_tx, exits) = watch::channel(0);
    let supervisor = tokio::spawn(supervise(
        config.clone(),
        dir,
        socket.clone(),
        stop_rx,
        exits_tx,
    ));
    let local = LocalProcess {
        stop: stop_tx,
        exits,
        supervisor: Mutex::new(Some(supervisor)),
    };
    RemoteRuntime::start_with(
        RemoteConfig {
            runtime_id: config.runtime_id,
            display_name: config.display_name,
            kind: RuntimeKind::Local,
            endpoint: Endpoint::Unix { path: socket },
            timing: config.timing,
        },
        Some(Box::new(local)),
    )
    .await
}

/// A new directory only this user can enter, unique to this backend and runtime.
fn private_dir(runtime_id: &RuntimeId) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // Short names: a Unix socket path must fit in about 100 bytes.
    let name = format!(
        "yoi-{}-{}-{}",
        std::process::id(),
        runtime_id.as_str().chars().take(24).collect::<String>(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let dir = base.join(name);
    // `create` fails if the name exists: nobody can have prepared it for us.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

fn spawn_child(config: &LocalConfig, socket: &Path) -> std::io::Result<Child> {
    let mut command = Command::new(&config.program);
    command
        .arg("runtime")
        .arg("serve")
        .arg("--unix")
        .arg(socket)
        .arg("--runtime-id")
        .arg(config.runtime_id.as_str())
        .arg("--exit-with-stdin");
    if let Some(dir) = &config.state_dir {
        command.arg("--state-dir").arg(dir);
    }
    if let Some(file) = &config.config_file {
        command.arg("--config").arg(file);
    }
    command
        .current_dir(&config.workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command.env_clear().envs(config.env.iter().cloned());
    command.spawn()
}

async fn supervise(
    config: LocalConfig,
    dir: PathBuf,
    socket: PathBuf,
    mut stop: watch::Receiver<bool>,
    exits: watch::Sender<u64>,
) {
    let id = &config.runtime_id;
    let mut delay = config.timing.retry_min.max(Duration::from_millis(100));
    loop {
        // A socket file left by a child that died would refuse the next one.
        let _ = std::fs::remove_file(&socket);
        let started = tokio::time::Instant::now();
        match spawn_child(&config, &socket) {
            Ok(mut child) => {
                tracing::info!(runtime = %id, pid = child.id(), "local runtime started");
                // `wait` closes a stdin still held by `child`: keep it apart,
                // open for as long as the child should live.
                let stdin = child.stdin.take();
                tokio::select! {
                    status = child.wait() => {
                        let how = match status {
                            Ok(s) => s.to_string(),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!(runtime = %id, exit = %how, "local runtime exited; it will be restarted");
                        // Announced before the restart, so that clients see
                        // `unavailable` before the successor's `available`.
                        exits.send_modify(|n| *n += 1);
                    }
                    () = stopping(&mut stop) => {
                        stop_child(id, child, stdin).await;
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::error!(runtime = %id, error = %e.kind(), "local runtime could not be started");
            }
        }
        if started.elapsed() >= HEALTHY_AFTER {
            delay = config.timing.retry_min.max(Duration::from_millis(100));
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopping(&mut stop) => break,
        }
        delay = (delay * 2).min(RESTART_MAX);
    }
    let _ = std::fs::remove_file(&socket);
    if let Err(e) = std::fs::remove_dir(&dir) {
        tracing::debug!(error = %e, "the private directory of a local runtime was not removed");
    }
}

/// Resolves once a stop is asked for (or nobody can ask any more).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Closes the child's stdin (its signal to shut down gracefully), then waits,
/// then kills it if it is still there.
async fn stop_child(id: &RuntimeId, mut child: Child, stdin: Option<ChildStdin>) {
    drop(stdin);
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(_) => tracing::info!(runtime = %id, "local runtime stopped"),
        Err(_) => {
            tracing::warn!(runtime = %id, "local runtime did not stop in time; killing it");
            let _ = child.kill().await;
        }
    }
}
