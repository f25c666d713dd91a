//! `yoi-bench`: yoi's own benchmark. It starts real `yoi` processes (from the
//! build beside this binary) against the in-process mock OpenAI server,
//! drives them with its own clients, and prints one table (and, with
//! `--json FILE`, the same as JSON). These machines are shared and noisy:
//! read figures against their targets and as ratios measured in the same run,
//! not as absolute times.
//!
//! `scripts/bench` builds the release binaries and runs it; `--short` takes
//! well under a minute.

mod client;
mod hostile;
mod pipe;
mod procs;
mod relay;
mod search;
mod store;
mod syscalls;
mod tools;
mod usage;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("no yoi binary beside yoi-bench: build both (scripts/bench does)")]
    NoYoi,
    #[error("cannot start yoi: {0}")]
    Start(&'static str),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("WebSocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("yoi answered {0}: {1}")]
    Answer(u16, String),
    #[error("unexpected: {0}")]
    Shape(&'static str),
}

/// Limits far above what the benchmark asks for: it measures speed, not the caps.
pub const LIMITS: &str = "[limits]\nworkers_per_runtime = 100000\nsubscribers_per_worker = 100000\nconnections = 1000000\n";

/// How long a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Size {
    Short,
    Full,
}

impl Size {
    pub fn pick(self, short: usize, full: usize) -> usize {
        match self {
            Size::Short => short,
            Size::Full => full,
        }
    }
}

/// One measured figure and the target it is held to.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// `(bound, at_least)`.
    pub target: Option<(f64, bool)>,
}

impl Figure {
    pub fn new(name: &str, value: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.to_owned(),
            value,
            unit,
            target: None,
        }
    }

    pub fn at_least(mut self, bound: f64) -> Figure {
        self.target = Some((bound, true));
        self
    }

    pub fn at_most(mut self, bound: f64) -> Figure {
        self.target = Some((bound, false));
        self
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|(bound, at_least)| {
            if at_least {
                self.value >= bound
            } else {
                self.value <= bound
            }
        })
    }

    fn target_text(&self) -> String {
        match self.target {
            Some((b, true)) => format!(">= {b} {}", self.unit),
            Some((b, false)) => format!("<= {b} {}", self.unit),
            None => String::new(),
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "yoi-bench",
    about = "yoi's benchmark: real processes, the mock provider, one table"
)]
struct Args {
    /// Which part to run.
    #[arg(value_enum, default_value_t = Part::All)]
    part: Part,
    /// A quick run (well under a minute) for development.
    #[arg(long)]
    short: bool,
    /// Only the relay's scenarios whose name contains this, or one of
    /// several separated by `|` (`syscalls` for the count of system calls): what to profile, with yoi run under
    /// `YOI_BENCH_WRAP="perf record -g --"` (its CPU figures then are not
    /// yoi's).
    #[arg(long)]
    only: Option<String>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Run as the bare TCP pipe to this address that the relay's figures
    /// are compared with (the benchmark starts it itself).
    #[arg(long, hide = true)]
    pipe_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// The relay: direct read against yoi, idle workers, fan-out.
    Relay,
    /// The store: creates, lists, input, history, the store's CPU cost.
    Store,
    /// Hostile clients: what they can make the server hold.
    Hostile,
    /// The tool loop: what a built-in tool's round trip adds to a run.
    Tools,
    /// The usage query over a year of 1,000 runs a day.
    Usage,
    /// Search over 100,000 messages of 1,000 workers, and indexing's cost.
    Search,
    /// All of them.
    All,
}

fn print(figures: &[Figure]) {
    println!(
        "{:<62} {:>12} {:<6} {:<14} met",
        "figure", "value", "unit", "target"
    );
    for f in figures {
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "{:<62} {:>12.2} {:<6} {:<14} {met}",
            f.name,
            f.value,
            f.unit,
            f.target_text()
        );
    }
}

fn to_json(figures: &[Figure]) -> serde_json::Value {
    json!(figures
        .iter()
        .map(|f| json!({
            "name": f.name,
            "value": f.value,
            "unit": f.unit,
            "target": f.target_text(),
            "met": f.met(),
        }))
        .collect::<Vec<_>>())
}

async fn all(size: Size) -> Result<Vec<Figure>, BenchError> {
    let mut figures = relay::run(size, None).await?;
    figures.extend(store::run(size).await?);
    figures.extend(hostile::run(size).await?);
    figures.extend(tools::run(size).await?);
    figures.extend(usage::run(size).await?);
    figures.extend(search::run(size).await?);
    Ok(figures)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match &args.pipe_to {
        // The pipe runs on as many threads as yoi does.
        Some(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(pipe::threads())
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    match runtime {
        Ok(runtime) => runtime.block_on(bench(args)),
        Err(e) => {
            eprintln!("yoi-bench: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(args: Args) -> ExitCode {
    if let Some(upstream) = args.pipe_to {
        if let Err(e) = pipe::serve(upstream).await {
            eprintln!("yoi-bench: the pipe stopped: {e}");
        }
        return ExitCode::FAILURE;
    }
    let size = if args.short { Size::Short } else { Size::Full };
    let result = match args.part {
        Part::Relay => relay::run(size, args.only.as_deref()).await,
        Part::Store => store::run(size).await,
        Part::Hostile => hostile::run(size).await,
        Part::Tools => tools::run(size).await,
        Part::Usage => usage::run(size).await,
        Part::Search => search::run(size).await,
        Part::All => all(size).await,
    };
    let figures = match result {
        Ok(f) => f,
        Err(e) => {
            eprintln!("yoi-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    print(&figures);
    if let Some(path) = args.json {
        if let Err(e) = std::fs::write(&path, to_json(&figures).to_string()) {
            eprintln!("yoi-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
