//! `yoi`: the one binary. `yoi serve` runs the backend with the web console;
//! `yoi tui` opens the terminal console against a running backend;
//! `yoi runtime serve` runs a runtime of its own, on TCP for a backend on
//! another machine or on a Unix socket (how a backend runs a local runtime).

mod config;
mod limits;
mod mcp_config;
mod unix_socket;
mod usage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use std::sync::Arc;

use runtime_registry::{start_local, Endpoint, LocalConfig, RemoteConfig, RemoteRuntime, Timing};
use tracing_subscriber::EnvFilter;
use worker_runtime::Runtime;
use yoi_protocol::{RuntimeId, RuntimeKind, WorkerRef};
use yoi_providers::Providers;
use yoi_runtime_server::tls::TlsListener;
use yoi_runtime_server::ServerOptions;
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
    /// What the workspace spent: runs, tokens and run time of a running backend, as a table.
    Usage(usage::UsageArgs),
    /// A runtime in a process of its own, for a backend to register.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
}

#[derive(Subcommand)]
enum RuntimeCommand {
    /// Serve the runtime's /v1 routes and event sockets on TCP or a Unix socket.
    Serve(RuntimeServeArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("listen").required(true).args(["bind", "unix"])))]
struct RuntimeServeArgs {
    /// TCP address to listen on, e.g. 0.0.0.0:7761 (a token is then required).
    #[arg(long)]
    bind: Option<String>,
    /// Unix socket to listen on (created owner-only).
    #[arg(long)]
    unix: Option<PathBuf>,
    /// The variable holding the bearer token (default YOI_RUNTIME_TOKEN).
    #[arg(long)]
    token_env: Option<String>,
    /// The runtime's id (default `runtime`); best the id the backend registers it under.
    #[arg(long)]
    runtime_id: Option<String>,
    /// Where Workers are saved to survive a restart (default: kept in memory only).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// A yoi.toml whose [provider], language and [profiles] this runtime offers.
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain to serve TLS with (TCP only; with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Shut down when stdin closes (how a backend's local runtime follows its parent).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
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
    if matches!(cli.command, Command::Serve(_) | Command::Runtime(_)) {
        // Workers' state, logs of the children, sockets: whatever a server
        // makes is its user's alone (files 0600, directories 0700), set once
        // before any thread starts, and inherited by a local runtime.
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
    let serving = matches!(cli.command, Command::Serve(_) | Command::Runtime(_));
    let built = match serving.then(event_loop_threads) {
        Some(Err(e)) => {
            eprintln!("yoi: {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(threads)) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yoi: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if serving {
        let threads = i64::try_from(runtime.metrics().num_workers()).unwrap_or(i64::MAX);
        worker_runtime::metrics::metrics()
            .event_loop_threads
            .set(threads);
    }
    let code = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Tui(args) => runtime.block_on(tui(args)),
        Command::Usage(args) => runtime.block_on(usage::run(args)),
        Command::Runtime(RuntimeCommand::Serve(args)) => runtime.block_on(runtime_serve(args)),
    };
    // Whatever is still running (a socket mid-close, a terminal reader) must
    // not keep the process from exiting once the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The most threads `YOI_THREADS` may ask for.
const MAX_THREADS: usize = 256;

/// How many threads run a server's event loop: `YOI_THREADS`, 1 when unset.
/// One is the right number for a relay of tokens: each token is a read, a
/// little work and a write, and a second thread only adds the wake-ups that
/// hand the work over (see the README's performance section). The store
/// writes, and search and usage read, on threads of their own either way.
fn event_loop_threads() -> Result<usize, String> {
    let raw = match std::env::var("YOI_THREADS") {
        Err(std::env::VarError::NotPresent) => return Ok(1),
        Err(std::env::VarError::NotUnicode(_)) => String::new(),
        Ok(v) if v.trim().is_empty() => return Ok(1),
        Ok(v) => v,
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_THREADS).contains(n))
        .ok_or_else(|| {
            format!("YOI_THREADS must be a whole number from 1 to {MAX_THREADS}, not {raw:?}")
        })
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let mut config = match config::load(&flags, &env) {
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
    let runtimes = std::mem::take(&mut config.runtimes);
    let local_env = local_runtime_env(&config, &env);
    let (workspace, config_file) = (config.workspace.clone(), config.config_file.clone());
    // `wait=true` through a runtime process: its run timeout (the backend's,
    // which a local runtime is given) plus a margin for the answer.
    let timing = Timing {
        wait_timeout: config.runtime.provider.run_timeout + std::time::Duration::from_secs(60),
        ..Timing::default()
    };
    let mcp = yoi_mcp::start_sources(std::mem::take(&mut config.mcp.servers));
    let backend = match Backend::start_with_tools(config.runtime, mcp).await {
        Ok(mut b) => {
            b.limits = config.limits.server;
            b
        }
        Err(e) => {
            eprintln!("yoi: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = LocalSetup {
        workspace: &workspace,
        env: &local_env,
        config_file: config_file.as_deref(),
        timing,
    };
    for entry in runtimes {
        if let Err(e) = register_runtime(&backend, entry, &local).await {
            eprintln!("yoi: {e}");
            backend.registry.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    let addr = listener.local_addr().unwrap_or(config.bind);
    announce(addr, config.token.is_some(), &config.token_env, &backend);
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

/// Tells the user where to open the console, and what is missing.
fn announce(addr: std::net::SocketAddr, with_token: bool, token_env: &str, backend: &Backend) {
    let shown = if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    };
    println!("yoi is running: open {shown}");
    if with_token {
        println!("a token is required: open {shown}?token=<the value of {token_env}>");
    }
    if let Some(hint) = &backend.provider.hint {
        println!("the provider is not configured: {hint}");
    }
}

/// The whole environment of a local runtime's child process: the allowlisted
/// variables of `parent`, and the backend's resolved provider settings.
fn local_runtime_env(
    config: &config::ServeConfig,
    parent: &HashMap<String, String>,
) -> Vec<(String, String)> {
    // The same allowlist as an MCP server's: what a process needs to run
    // and to reach the network, no token or key of the backend's.
    let mut env = yoi_mcp::inherited_env(parent);
    let provider = &config.runtime.provider;
    env.extend([
        ("OPENAI_BASE_URL".to_owned(), provider.base_url.clone()),
        ("YOI_MODEL".to_owned(), provider.model.clone()),
        (
            "YOI_FIRST_TOKEN_TIMEOUT_MS".to_owned(),
            provider.first_token_timeout.as_millis().to_string(),
        ),
        (
            "YOI_RUN_TIMEOUT_MS".to_owned(),
            provider.run_timeout.as_millis().to_string(),
        ),
    ]);
    env.push((
        "YOI_QUEUE_LIMIT".to_owned(),
        config.runtime.queue_limit.to_string(),
    ));
    // A local runtime relays tokens as the backend does, on as many threads.
    if let Some(threads) = parent.get("YOI_THREADS") {
        env.push(("YOI_THREADS".to_owned(), threads.clone()));
    }
    env.extend(limits::to_env(&config.limits));
    // The child reads the key from the default variable, and each profile's
    // from the variable its `api_key_env` names (it reads the same yoi.toml).
    if let Some(key) = &provider.api_key {
        env.push((
            worker_runtime::config::DEFAULT_API_KEY_ENV.to_owned(),
            key.clone(),
        ));
    }
    for profile in &config.runtime.profiles {
        if let Some(key) = &profile.provider.api_key {
            env.push((profile.provider.api_key_env.clone(), key.clone()));
        }
    }
    // It starts the same MCP servers, with the same tokens.
    env.extend(config.mcp.token_env.iter().cloned());
    env
}

/// What every local runtime is started with.
struct LocalSetup<'a> {
    workspace: &'a std::path::Path,
    env: &'a [(String, String)],
    /// The backend's yoi.toml: the child offers the same profiles.
    config_file: Option<&'a std::path::Path>,
    /// How every runtime process is followed.
    timing: Timing,
}

async fn register_runtime(
    backend: &Backend,
    entry: config::RuntimeEntry,
    local: &LocalSetup<'_>,
) -> Result<(), String> {
    let workspace = local.workspace;
    let handle = match entry {
        config::RuntimeEntry::Remote {
            id,
            display_name,
            url,
            token,
            ca,
        } => {
            tracing::info!(runtime = %id, "registering remote runtime");
            RemoteRuntime::start(RemoteConfig {
                runtime_id: id,
                display_name,
                kind: RuntimeKind::Remote,
                endpoint: Endpoint::Tcp {
                    url,
                    token: Some(token),
                    ca,
                },
                timing: local.timing,
            })
            .await
            .map_err(|e| e.to_string())?
        }
        config::RuntimeEntry::Local { id, display_name } => {
            let program = std::env::current_exe().map_err(|_| {
                "cannot find the yoi executable to start a local runtime".to_owned()
            })?;
            tracing::info!(runtime = %id, "starting local runtime");
            // Its workers are kept in the workspace, like the backend's own.
            let state_dir = workspace.join(".yoi").join("runtimes").join(id.as_str());
            start_local(LocalConfig {
                state_dir: Some(state_dir),
                runtime_id: id,
                display_name,
                program,
                workdir: workspace.to_path_buf(),
                env: local.env.to_vec(),
                config_file: local.config_file.map(std::path::Path::to_path_buf),
                timing: local.timing,
            })
            .await
            .map_err(|e| e.to_string())?
        }
    };
    backend
        .registry
        .register(Arc::new(handle))
        .await
        .map_err(|e| e.to_string())
}

async fn runtime_serve(args: RuntimeServeArgs) -> ExitCode {
    init_logging();
    let env: HashMap<String, String> = std::env::vars().collect();
    let flags = config::RuntimeFlags {
        bind: args.bind,
        unix: args.unix,
        token_env: args.token_env,
        runtime_id: args.runtime_id,
        state_dir: args.state_dir,
        config: args.config,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
    };
    let mut config = match config::load_runtime(&flags, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yoi: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let id = config.runtime.runtime_id.clone();
    let hint = config.runtime.provider.check_configured().err();
    let stop = stop_signal(args.exit_with_stdin);
    // Listen first, so that a taken address fails before anything starts.
    let listener = match listen(&mut config).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("yoi: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mcp = yoi_mcp::start_sources(std::mem::take(&mut config.mcp.servers));
    let runtime = match Runtime::start_with_tools(config.runtime, Providers::shared(), mcp).await {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yoi: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("yoi runtime `{id}` is serving on {}", listener.describe());
    if let Some(hint) = &hint {
        println!("the provider is not configured: {hint}");
    }
    let options = ServerOptions {
        token: config.token,
        limits: config.limits.server,
    };
    let served = match listener {
        Listener::Tcp(l) => yoi_runtime_server::serve_tcp(l, runtime, options, stop).await,
        Listener::Tls(l, _) => yoi_runtime_server::serve(l, runtime, options, stop).await,
        Listener::Unix(l, path) => {
            let served = yoi_runtime_server::serve(l, runtime, options, stop).await;
            let _ = std::fs::remove_file(&path);
            served
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yoi: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where `yoi runtime serve` listens.
enum Listener {
    Tcp(tokio::net::TcpListener),
    /// TCP with TLS, and the port.
    Tls(TlsListener, u16),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl Listener {
    fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => {
                let port = l.local_addr().map(|a| a.port()).unwrap_or_default();
                format!("TCP port {port}")
            }
            Listener::Tls(_, port) => format!("TCP port {port} with TLS"),
            Listener::Unix(..) => "a Unix socket".to_owned(),
        }
    }
}

/// Binds what the configuration names (the TLS configuration is taken).
async fn listen(config: &mut config::RuntimeServeConfig) -> Result<Listener, String> {
    match &config.listen {
        config::Listen::Tcp(addr) => {
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            match config.tls.take() {
                None => Ok(Listener::Tcp(tcp)),
                Some(tls) => {
                    let port = tcp.local_addr().map(|a| a.port()).unwrap_or_default();
                    let tls = TlsListener::new(tcp, tls)
                        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                    Ok(Listener::Tls(tls, port))
                }
            }
        }
        config::Listen::Unix(path) => unix_socket::bind(path)
            .map(|l| Listener::Unix(l, path.clone()))
            .map_err(|e| format!("cannot listen on the Unix socket: {e}")),
    }
}

/// Ctrl-C or SIGTERM, or with `exit_with_stdin` the end of stdin.
async fn stop_signal(exit_with_stdin: bool) {
    let stdin_closed = async {
        if !exit_with_stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = yoi_workspace_server::shutdown::signal() => {}
        () = stdin_closed => {}
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
