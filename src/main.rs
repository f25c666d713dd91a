//! `yoi`: the one binary. `yoi serve` runs the backend with the web console;
//! `yoi tui` opens the terminal console against a running backend.

mod config;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yoi_protocol::{RuntimeId, WorkerRef};
use yoi_workspace_server::{Access, Backend};

#[derive(Parser)]
#[command(
    name = "yoi",
    version,
    about = "A workspace backend that hosts LLM Workers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the backend: the API, the Companion and the web console.
    Serve(ServeArgs),
    /// Open the terminal console of a running backend.
    Tui(TuiArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The workspace directory (default: the current directory).
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:7760; env YOI_BIND).
    #[arg(long)]
    bind: Option<String>,
    /// Configuration file (default: yoi.toml in the workspace, optional).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct TuiArgs {
    /// The backend's URL.
    #[arg(long, default_value = "http://127.0.0.1:7760")]
    server: String,
    /// Runtime of the worker to open (with --worker; default: the Companion).
    #[arg(long, requires = "worker")]
    runtime: Option<String>,
    /// Worker to open (with --runtime).
    #[arg(long, requires = "runtime")]
    worker: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yoi: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Tui(args) => runtime.block_on(tui(args)),
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn serve(args: ServeArgs) -> ExitCode {
    init_logging();
    let env: HashMap<String, String> = std::env::vars().collect();
    let flags = config::ServeFlags {
        workspace: args.workspace,
        bind: args.bind,
        config: args.config,
    };
    let config = match config::load(&flags, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yoi: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("yoi: cannot listen on {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    let backend = match Backend::start(config.runtime).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("yoi: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(config.bind);
    let shown = if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    };
    println!("yoi is running: open {shown}");
    if config.token.is_some() {
        println!(
            "a token is required: open {shown}?token=<the value of {}>",
            config.token_env
        );
    }
    if let Some(hint) = &backend.provider.hint {
        println!("the provider is not configured: {hint}");
    }
    let access = Access {
        loopback: addr.ip().is_loopback(),
        token: config.token,
    };
    match yoi_workspace_server::serve(
        listener,
        backend,
        access,
        yoi_workspace_server::shutdown::signal(),
    )
    .await
    {
        Ok(()) => {
            println!("yoi stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("yoi: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn tui(args: TuiArgs) -> ExitCode {
    let target = match (args.runtime, args.worker) {
        (Some(runtime), Some(worker)) => {
            let runtime_id = match RuntimeId::parse(&runtime) {
                Ok(id) => id,
                Err(e) => {
                    eprintln!("yoi: --runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let worker_id = match worker.parse() {
                Ok(id) => id,
                Err(e) => {
                    eprintln!("yoi: --worker: {e}");
                    return ExitCode::from(2);
                }
            };
            Some(WorkerRef {
                runtime_id,
                worker_id,
            })
        }
        _ => None,
    };
    let token = std::env::var("YOI_TOKEN").ok().filter(|t| !t.is_empty());
    let options = yoi_tui::TuiOptions {
        server: args.server,
        target,
        token,
    };
    match yoi_tui::run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yoi: {e}");
            ExitCode::FAILURE
        }
    }
}
