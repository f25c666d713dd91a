//! The processes a benchmark measures: `yoi serve` and `yoi runtime serve`,
//! started from the build beside this binary, and what `/proc` says of them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::BenchError;

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir, BenchError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("yoi-bench-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `yoi` binary of the same build as this one.
pub fn yoi_binary() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe()?;
    let yoi = exe
        .parent()
        .map(|dir| dir.join("yoi"))
        .filter(|p| p.exists())
        .ok_or(BenchError::NoYoi)?;
    Ok(yoi)
}

/// A running `yoi` process and the port it announced.
pub struct Yoi {
    child: Child,
    pub port: u16,
}

impl Yoi {
    /// Starts `yoi <args>` in `dir` with `env`, and waits until it prints
    /// `announce` followed by its port.
    pub async fn start(
        args: &[&str],
        dir: &Path,
        env: &[(&str, String)],
        announce: &str,
    ) -> Result<Yoi, BenchError> {
        // `YOI_BENCH_WRAP` runs yoi under a profiler (`perf record -g --`).
        let wrap = std::env::var("YOI_BENCH_WRAP").unwrap_or_default();
        let mut wrap = wrap.split_whitespace();
        let command = match wrap.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(wrap).arg(yoi_binary()?);
                c
            }
            None => Command::new(yoi_binary()?),
        };
        Self::spawn(command, args, dir, env, announce).await
    }

    /// Starts `program <args>` the way [`Yoi::start`] starts yoi.
    pub async fn start_program(
        program: &Path,
        args: &[&str],
        dir: &Path,
        env: &[(&str, String)],
        announce: &str,
    ) -> Result<Yoi, BenchError> {
        Self::spawn(Command::new(program), args, dir, env, announce).await
    }

    async fn spawn(
        mut command: Command,
        args: &[&str],
        dir: &Path,
        env: &[(&str, String)],
        announce: &str,
    ) -> Result<Yoi, BenchError> {
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            // How many threads yoi runs on is the caller's to choose.
            .envs(std::env::var_os("YOI_THREADS").map(|v| ("YOI_THREADS", v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or(BenchError::Start("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split(announce).nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(port) = digits.parse() {
                        return Some(port);
                    }
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or(BenchError::Start("yoi did not announce its port"))?;
        // Keep reading so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Yoi { child, port })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU time the process's live threads ran so far, in milliseconds, to
    /// the nanosecond (the kernel's run time of each thread in
    /// `/proc/<pid>/task/*/schedstat`). A thread that has ended is not
    /// counted: for a process whose threads live as long as it does (the
    /// pipe), where [`Yoi::cpu_ms`]'s 10 ms ticks are too coarse.
    pub fn thread_cpu_ms(&self) -> f64 {
        let Some(pid) = self.pid() else { return 0.0 };
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return 0.0;
        };
        let nanos: u64 = tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        #[allow(clippy::cast_precision_loss)]
        let ms = nanos as f64 / 1e6;
        ms
    }

    /// CPU time the process used so far (user + system), in milliseconds.
    pub fn cpu_ms(&self) -> f64 {
        let Some(pid) = self.pid() else { return 0.0 };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        // Fields after the command name, which is in parentheses.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            return 0.0;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are the 14th and 15th fields of the whole line.
        (ticks(11) + ticks(12)) * 1000.0 / clock_ticks()
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> f64 {
        let Some(pid) = self.pid() else { return 0.0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0.0)
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
