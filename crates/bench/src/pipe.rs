//! The floor a relay is measured against: a bare TCP pipe between the
//! benchmark's direct reader and the mock, in a process of its own (so that
//! its CPU time is its own), on as many event-loop threads as yoi runs on.
//! It reads each token from one socket and writes it to the other, and does
//! nothing else: no HTTP, no JSON, no store, no subscribers. What a paced
//! token costs it is what a wake-up, a read and a write cost on this
//! machine, the least any relay pays. Its CPU is read per thread, to the
//! nanosecond ([`crate::procs::Yoi::thread_cpu_ms`]).

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::procs::Yoi;
use crate::BenchError;

/// What the pipe prints once it listens, before its port.
const ANNOUNCE: &str = "pipe listening on 127.0.0.1:";

/// Starts the pipe (this binary, `--pipe-to upstream`) and waits for its port.
pub async fn start(upstream: &str) -> Result<Yoi, BenchError> {
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir();
    Yoi::start_program(&exe, &["--pipe-to", upstream], &dir, &[], ANNOUNCE).await
}

/// The event-loop threads of the pipe: `YOI_THREADS`, as yoi reads it.
pub fn threads() -> usize {
    std::env::var("YOI_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// Runs the pipe until killed: each accepted connection gets one to
/// `upstream`, and bytes are copied both ways as they come.
pub async fn serve(upstream: String) -> Result<(), BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    println!("{ANNOUNCE}{port}");
    loop {
        let (mut client, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(Ok(mut server)) =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&upstream)).await
            else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
