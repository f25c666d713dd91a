//! `yoi-mock-openai [--port N]`: the mock OpenAI server as a process, for end-to-end
//! tests. Prints `listening http://127.0.0.1:PORT/v1` once ready and serves echo
//! replies (with `[[...]]` directives) until SIGTERM or SIGINT.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use yoi_test_support::MockOpenAi;

/// Mock OpenAI-compatible chat-completions server on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "yoi-mock-openai", version)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mock = match MockOpenAi::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await {
        Ok(mock) => mock,
        Err(e) => {
            eprintln!("yoi-mock-openai: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening {}", mock.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    if let Err(e) = terminated().await {
        eprintln!("yoi-mock-openai: cannot listen for signals: {e}");
        return ExitCode::FAILURE;
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on SIGINT or (on Unix) SIGTERM.
async fn terminated() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
