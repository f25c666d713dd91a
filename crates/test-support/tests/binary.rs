//! The `yoi-mock-openai` binary: announces its address, serves the echo, and exits
//! cleanly on SIGTERM.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{chunks, content, data_frames};

#[tokio::test]
async fn binary_prints_its_url_serves_echo_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yoi-mock-openai"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();

    let base_url = line.trim_end().strip_prefix("listening ").unwrap();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{line:?}");
    assert!(base_url.ends_with("/v1"), "{line:?}");

    let body = common::chat_body("from the binary [[tokens:2]]", true, false);
    let text = reqwest::Client::new()
        .post(format!("{base_url}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(content(&chunks(&data_frames(&text))), "tok1 tok2");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
