//! System calls per token (the relay issue's second round): `strace -c -f`
//! attached to `yoi serve` while one client reads five answers of 200 tokens
//! (1,000 tokens) from one worker, paced (10 ms a token, as models send
//! them) and in a burst (how many tokens share a write to the client). The
//! total and the most frequent calls, each per token. Without `strace` on
//! the machine the figures are left out and the reason printed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use yoi_test_support::{MockOpenAi, Reply};

use crate::client::Client;
use crate::procs::{TempDir, Yoi};
use crate::relay::{through, tokens};
use crate::{BenchError, Figure};

const ANSWERS: usize = 5;
const TOKENS: usize = 200;
/// The target: one read from the provider, one write to the client, and
/// little more.
const MOST_PER_TOKEN: f64 = 5.0;
/// How long strace is given to attach to every thread (it says nothing
/// when it is done with `-q`); a pause in a benchmark, not in a test.
const ATTACH: Duration = Duration::from_millis(1500);

/// Both figures: paced, with its target, then burst.
pub async fn per_token(
    mock: &MockOpenAi,
    yoi: &Yoi,
    client: &Client,
    out: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let paced = Reply::tokens(tokens(TOKENS)).token_delay(Duration::from_millis(10));
    counted(mock, yoi, client, paced, "paced", out).await?;
    counted(
        mock,
        yoi,
        client,
        Reply::tokens(tokens(TOKENS)),
        "burst",
        out,
    )
    .await
}

async fn counted(
    mock: &MockOpenAi,
    yoi: &Yoi,
    client: &Client,
    reply: Reply,
    kind: &str,
    out: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let Some(pid) = yoi.pid() else {
        return Ok(());
    };
    mock.set_default(reply);
    let worker = client
        .create_worker("/api/runtimes/backend-internal")
        .await?;
    let mut socket = client.events(&worker).await?;
    // The provider's connection and the worker are warm before counting.
    through(client, &worker, &mut socket).await?;
    let dir = TempDir::new("strace")?;
    let report = dir.0.join("strace.txt");
    let strace = Command::new("strace")
        .args(["-c", "-f", "-q", "-o"])
        .arg(&report)
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut strace = match strace {
        Ok(child) => child,
        Err(e) => {
            eprintln!("system calls per token: left out, strace did not start ({e})");
            return Ok(());
        }
    };
    tokio::time::sleep(ATTACH).await;
    let mut tokens = 0;
    for _ in 0..ANSWERS {
        tokens += through(client, &worker, &mut socket).await?.tokens;
    }
    if let Some(id) = strace.id() {
        let _ = Command::new("kill")
            .args(["-INT", &id.to_string()])
            .status()
            .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), strace.wait()).await;
    let Some(calls) = read_summary(&report) else {
        eprintln!("system calls per token: left out, strace wrote no summary (may it trace this process?)");
        return Ok(());
    };
    #[allow(clippy::cast_precision_loss)]
    let per = |n: u64| n as f64 / tokens.max(1) as f64;
    let total: u64 = calls.iter().map(|(_, n)| n).sum();
    let name = format!("{kind}, 1 stream, 1 client: system calls per token");
    let mut figure = Figure::new(&name, per(total), "");
    if kind == "paced" {
        figure = figure.at_most(MOST_PER_TOKEN);
    }
    out.push(figure);
    for (name, n) in calls.iter().take(6) {
        out.push(Figure::new(&format!("  of which {name}"), per(*n), ""));
    }
    Ok(())
}

/// The calls of `strace -c`'s table, most frequent first.
fn read_summary(path: &Path) -> Option<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut calls: Vec<(String, u64)> = text
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // `% time, seconds, usecs/call, calls, [errors,] syscall`
            let name = *cols.last()?;
            let count = cols.get(3)?.parse().ok()?;
            (cols.len() >= 5 && name != "total").then(|| (name.to_owned(), count))
        })
        .collect();
    if calls.is_empty() {
        return None;
    }
    calls.sort_by_key(|c| std::cmp::Reverse(c.1));
    Some(calls)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_of_strace() {
        let dir = TempDir::new("strace-test").unwrap();
        let path = dir.0.join("s.txt");
        std::fs::write(
            &path,
            "% time     seconds  usecs/call     calls    errors syscall\n\
             ------ ----------- ----------- --------- --------- ----------------\n \
             40.00    0.000400           2       200           futex\n \
             30.00    0.000300           1       300        12 recvfrom\n\
             ------ ----------- ----------- --------- --------- ----------------\n\
             100.00    0.000700           1       500        12 total\n",
        )
        .unwrap();
        let calls = read_summary(&path).unwrap();
        assert_eq!(
            calls,
            vec![("recvfrom".to_owned(), 300), ("futex".to_owned(), 200)]
        );
    }
}
