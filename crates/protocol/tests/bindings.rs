//! The web console's TypeScript wire types are generated from this crate.
//! This test fails when the committed files differ from what the Rust types
//! generate; `YOI_UPDATE_BINDINGS=1 cargo test -p yoi-protocol --test bindings`
//! rewrites them.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ts_rs::{Config, TS};
use yoi_protocol::*;

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/workspace/src/lib/protocol")
}

fn export_roots(cfg: &Config) {
    macro_rules! export {
        ($($t:ty),* $(,)?) => { $( <$t as TS>::export_all(cfg).expect(stringify!($t)); )* };
    }
    export!(
        WorkerEvent,
        WorkspaceEvent,
        ErrorEnvelope,
        Health,
        RuntimeList,
        WorkerList,
        CreateWorker,
        RenameWorker,
        ProfileList,
        InputRequest,
        InputAccepted,
        RunOutcome,
        CancelAccepted,
        Transcript,
        CompanionInfo,
        WorkerRef,
        ErrorCode,
        ToolList,
        ApprovalRequest,
        ApprovalAnswer,
        UsageReport,
        SearchResults,
        TranscriptWindow,
    );
}

fn read_ts_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "ts") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, tidy(&fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// ts-rs leaves spaces at the ends of lines before doc comments; the
/// committed files keep `git diff --check` clean.
fn tidy(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

#[test]
fn typescript_bindings_are_fresh() {
    let tmp = std::env::temp_dir().join(format!("yoi-bindings-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    export_roots(&Config::new().with_out_dir(&tmp));
    let generated = read_ts_files(&tmp);
    let _ = fs::remove_dir_all(&tmp);
    assert!(
        generated.contains_key("WorkerEvent.ts"),
        "nothing generated"
    );

    let dir = committed_dir();
    if std::env::var_os("YOI_UPDATE_BINDINGS").is_some() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in &generated {
            fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let committed = read_ts_files(&dir);
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "web/workspace/src/lib/protocol is stale: run YOI_UPDATE_BINDINGS=1 cargo test -p yoi-protocol --test bindings"
    );
    for (name, text) in &generated {
        assert_eq!(
            committed.get(name),
            Some(text),
            "{name} is stale: run YOI_UPDATE_BINDINGS=1 cargo test -p yoi-protocol --test bindings"
        );
    }
}
