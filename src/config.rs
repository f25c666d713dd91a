//! Configuration of `yoi serve`: `yoi.toml` in the workspace (optional),
//! overridden by environment variables, overridden by command-line flags.
//! The API key and the server token are only ever read from the environment
//! variables the configuration names.
//!
//! `[[runtimes]]` adds runtimes in other processes: `kind = "remote"` (a
//! `yoi runtime serve` elsewhere, with `url` and the variable holding its
//! token in `token_env`) and `kind = "local"` (a child process the backend
//! starts and supervises). `yoi runtime serve` itself is configured by its
//! flags and the same provider variables as `yoi serve` ([`load_runtime`]).

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runtime_registry::remote::Url;
use serde::Deserialize;
use worker_runtime::config::ProfileSpec;
use worker_runtime::config::{
    ProviderKind, DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_MODEL, DEFAULT_QUEUE_LIMIT, DEFAULT_RUN_TIMEOUT, MAX_QUEUE_LIMIT,
};
use worker_runtime::{ProviderConfig, RuntimeConfig};
use yoi_http::token::MIN_TOKEN_LEN;

use crate::limits::{FileLimits, Limits};
use worker_runtime::tools::{ToolGrants, ToolLimits};
use yoi_protocol::{RuntimeId, RuntimeKind, ToolPolicy};

pub const DEFAULT_BIND: &str = "127.0.0.1:7760";
pub const DEFAULT_TOKEN_ENV: &str = "YOI_TOKEN";
/// The variable holding a runtime's token, for `yoi runtime serve --token-env`
/// and `token_env` of a remote `[[runtimes]]` entry.
pub const DEFAULT_RUNTIME_TOKEN_ENV: &str = "YOI_RUNTIME_TOKEN";
/// `--runtime-id` of `yoi runtime serve` when none is given.
pub const DEFAULT_RUNTIME_ID: &str = "runtime";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the workspace directory does not exist or is not a directory")]
    NoWorkspace,
    #[error("the config file could not be read: {0}")]
    Unreadable(std::io::Error),
    #[error("the config file is not valid: {0}")]
    Invalid(String),
    #[error("{key}: {why}")]
    Value { key: &'static str, why: String },
    #[error(
        "refusing to listen on {0} without a token: set {1} to a long random string (clients then send Authorization: Bearer <token>), or bind to 127.0.0.1"
    )]
    TokenRequired(SocketAddr, String),
    #[error(
        "refusing to serve a runtime on TCP without a token: set {0} to a long random string (the backend sends it as Authorization: Bearer <token>), or serve on a Unix socket with --unix"
    )]
    RuntimeTokenRequired(String),
}

/// `yoi.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub token_env: Option<String>,
    pub language: Option<String>,
    /// How many inputs may wait in a worker's queue.
    pub queue_limit: Option<u64>,
    #[serde(default)]
    pub provider: FileProvider,
    #[serde(default)]
    pub runtimes: Vec<FileRuntime>,
    /// `[profiles.<name>]`, in name order; each is read as a [`FileProfile`]
    /// apart, so that an error names its profile.
    #[serde(default)]
    pub profiles: BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub tools: FileTools,
    /// `[mcp.<name>]`: MCP servers as tool sources, each read apart so that
    /// an error names its server (see `mcp_config`).
    #[serde(default)]
    pub mcp: BTreeMap<String, toml::Table>,
}

/// `[tools]`: the bounds of tool calls.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTools {
    /// Model turns with tool calls in one run.
    pub max_rounds: Option<u64>,
    pub call_timeout_ms: Option<u64>,
    /// Most bytes of one result handed to the model.
    pub result_bytes: Option<u64>,
    pub approval_timeout_ms: Option<u64>,
}

/// `[profiles.<name>]`: unset keys take `[provider]`'s value (and the
/// Companion's prompt, and the workspace's `language`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProfile {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// A Markdown file, relative to the workspace.
    pub prompt: Option<String>,
    pub language: Option<String>,
    pub description: Option<String>,
    /// `[profiles.<name>.tools]`: `pattern = "allow" | "ask" | "deny"`, in
    /// the order written (the last matching rule wins).
    pub tools: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProvider {
    /// Which kind of service (`openai-compatible`, the default and only one).
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub model: Option<String>,
    pub first_token_timeout_ms: Option<u64>,
    pub run_timeout_ms: Option<u64>,
}

/// `[[runtimes]]`: a runtime in another process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRuntime {
    pub id: String,
    pub kind: String,
    pub url: Option<String>,
    pub token_env: Option<String>,
    pub display_name: Option<String>,
    /// Send the token over plain `http://` to a host that is not loopback.
    pub allow_insecure: Option<bool>,
    /// PEM of a private CA an `https://` runtime's certificate chains to
    /// (relative to the workspace).
    pub ca_file: Option<PathBuf>,
}

/// A runtime in another process, checked.
pub enum RuntimeEntry {
    /// `yoi runtime serve --bind` elsewhere.
    Remote {
        id: RuntimeId,
        display_name: String,
        url: Url,
        token: String,
        /// PEM of the private CA from `ca_file`.
        ca: Option<std::sync::Arc<[u8]>>,
    },
    /// A child process on a Unix socket, started and supervised by the backend.
    Local { id: RuntimeId, display_name: String },
}

impl std::fmt::Debug for RuntimeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and the token stay out of logs.
        match self {
            RuntimeEntry::Remote { id, .. } => write!(f, "Remote({id})"),
            RuntimeEntry::Local { id, .. } => write!(f, "Local({id})"),
        }
    }
}

/// Everything `yoi serve` runs with.
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub token: Option<String>,
    pub token_env: String,
    pub runtime: RuntimeConfig,
    pub workspace: PathBuf,
    pub runtimes: Vec<RuntimeEntry>,
    /// The config file that was read, if any: a local runtime reads its
    /// profiles from it too.
    pub config_file: Option<PathBuf>,
    pub limits: Limits,
    /// `[mcp.<name>]`, checked.
    pub mcp: crate::mcp_config::McpServers,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs and panics (the provider masks its key).
        f.debug_struct("ServeConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("token_env", &self.token_env)
            .field("runtime", &self.runtime)
            .field("runtimes", &self.runtimes)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Flags of `yoi serve`.
#[derive(Debug, Default)]
pub struct ServeFlags {
    pub workspace: Option<PathBuf>,
    pub bind: Option<String>,
    pub config: Option<PathBuf>,
}

pub fn load(flags: &ServeFlags, env: &HashMap<String, String>) -> Result<ServeConfig, ConfigError> {
    let workspace = match &flags.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|_| ConfigError::NoWorkspace)?,
    };
    if !workspace.is_dir() {
        return Err(ConfigError::NoWorkspace);
    }
    let (file, path) = read_file(&workspace, flags.config.as_deref())?;
    let mut config = resolve(&workspace, file, flags, env)?;
    config.config_file = path.and_then(|p| std::path::absolute(p).ok());
    Ok(config)
}

/// The file and its path, or the defaults when the optional file is absent.
fn read_file(
    workspace: &Path,
    explicit: Option<&Path>,
) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (workspace.join("yoi.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map(|file| (file, Some(path)))
            .map_err(|e| ConfigError::Invalid(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok((FileConfig::default(), None))
        }
        Err(e) => Err(ConfigError::Unreadable(e)),
    }
}

fn non_empty(env: &HashMap<String, String>, key: &str) -> Option<String> {
    env.get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parse_bind(raw: &str) -> Result<SocketAddr, ConfigError> {
    let bad = |why: &str| ConfigError::Value {
        key: "bind",
        why: format!("`{raw}` {why}; expected an address such as 127.0.0.1:7760"),
    };
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, _) = raw.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
    if host != "localhost" {
        return Err(bad("is not an IP address and port"));
    }
    raw.to_socket_addrs()
        .map_err(|_| bad("does not resolve"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| bad("does not resolve to loopback"))
}

fn env_name(key: &'static str, raw: &str) -> Result<String, ConfigError> {
    let ok = !raw.is_empty()
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !raw.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::Value {
            key,
            why: format!("`{raw}` is not an environment variable name"),
        })
    }
}

/// `queue_limit`: `YOI_QUEUE_LIMIT` over the file, 1 to [`MAX_QUEUE_LIMIT`].
fn queue_limit(file: Option<u64>, env: &HashMap<String, String>) -> Result<usize, ConfigError> {
    let raw = match non_empty(env, "YOI_QUEUE_LIMIT") {
        Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Value {
            key: "queue_limit",
            why: format!(
                "`{}` is not a whole number",
                v.chars().take(40).collect::<String>()
            ),
        })?,
        None => match file {
            Some(n) => n,
            None => return Ok(DEFAULT_QUEUE_LIMIT),
        },
    };
    match usize::try_from(raw) {
        Ok(n) if (1..=MAX_QUEUE_LIMIT).contains(&n) => Ok(n),
        _ => Err(ConfigError::Value {
            key: "queue_limit",
            why: format!("{raw} is out of range (1 to {MAX_QUEUE_LIMIT})"),
        }),
    }
}

fn timeout(
    key: &'static str,
    file: Option<u64>,
    env: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let ms = match env {
        Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Value {
            key,
            why: format!("`{v}` is not a whole number of milliseconds"),
        })?,
        None => match file {
            Some(ms) => ms,
            None => return Ok(default),
        },
    };
    if !(1..=86_400_000).contains(&ms) {
        return Err(ConfigError::Value {
            key,
            why: format!("{ms} ms is out of range (1 to 86400000)"),
        });
    }
    Ok(Duration::from_millis(ms))
}

pub fn resolve(
    workspace: &Path,
    file: FileConfig,
    flags: &ServeFlags,
    env: &HashMap<String, String>,
) -> Result<ServeConfig, ConfigError> {
    let bind_raw = flags
        .bind
        .clone()
        .or_else(|| non_empty(env, "YOI_BIND"))
        .or(file.bind)
        .unwrap_or_else(|| DEFAULT_BIND.to_owned());
    let bind = parse_bind(&bind_raw)?;

    let token_env = env_name(
        "token_env",
        file.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV),
    )?;
    let token = non_empty(env, &token_env);
    if let Some(t) = &token {
        long_enough(t, &token_env)?;
    }
    if !bind.ip().is_loopback() && token.is_none() {
        return Err(ConfigError::TokenRequired(bind, token_env));
    }

    let provider = provider_config(file.provider, env)?;
    let runtimes = runtime_entries(&file.runtimes, workspace, env)?;
    let limits = crate::limits::resolve(&file.limits, env)?;

    let mut runtime = RuntimeConfig::new(RuntimeId::backend_internal(), "Backend");
    runtime.profiles = profile_specs(&file.profiles, &provider, workspace, env)?;
    runtime.provider = provider;
    runtime.queue_limit = queue_limit(file.queue_limit, env)?;
    runtime.workspace_name = workspace_name(workspace);
    if let Some(lang) = file.language.filter(|l| !l.trim().is_empty()) {
        runtime.language = lang;
    }
    runtime.prompts_dir = Some(workspace.join("prompts"));
    // Workers (the Companion among them) survive restarts of the backend.
    runtime.state_dir = Some(workspace.join(".yoi"));
    runtime.limits = limits.runtime;
    runtime.tool_limits = tool_limits(&file.tools)?;
    let mcp = crate::mcp_config::servers(&file.mcp, workspace, env)?;
    Ok(ServeConfig {
        bind,
        token,
        token_env,
        runtime,
        workspace: workspace.to_path_buf(),
        runtimes,
        config_file: None,
        limits,
        mcp,
    })
}

/// `[profiles.<name>]`, each on top of the resolved `[provider]`.
fn profile_specs(
    profiles: &BTreeMap<String, toml::Table>,
    base: &ProviderConfig,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<Vec<ProfileSpec>, ConfigError> {
    profiles
        .iter()
        .map(|(name, table)| {
            let p: FileProfile = table.clone().try_into().map_err(|e| ConfigError::Value {
                key: "profiles",
                why: format!(
                    "profile `{}`: {}",
                    name.chars().take(64).collect::<String>(),
                    e.message()
                ),
            })?;
            profile_spec(name, &p, base, workspace, env)
        })
        .collect()
}

fn profile_spec(
    name: &str,
    p: &FileProfile,
    base: &ProviderConfig,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<ProfileSpec, ConfigError> {
    let bad = |why: String| ConfigError::Value {
        key: "profiles",
        why: format!(
            "profile `{}`: {why}",
            name.chars().take(64).collect::<String>()
        ),
    };
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err(bad(
            "a profile name is 1 to 64 characters a-z, 0-9, '-' or '_'".to_owned(),
        ));
    }
    let mut provider = base.clone();
    if let Some(model) = &p.model {
        if model.trim().is_empty() || model.len() > 200 {
            return Err(bad("model must be 1 to 200 characters".to_owned()));
        }
        provider.model = model.trim().to_owned();
    }
    if let Some(url) = &p.base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad(
                "base_url must start with http:// or https://".to_owned()
            ));
        }
        if p.api_key_env.is_none() && !same_origin(url, &base.base_url) {
            // `[provider]`'s key is for `[provider]`'s host: never sent elsewhere.
            provider.api_key = None;
            provider.api_key_env = String::new();
            if !provider_is_loopback(url) {
                tracing::warn!(
                    profile = name,
                    "profile `{name}` points at another host than [provider] and sends it no API key; set api_key_env in [profiles.{name}] if that host needs one"
                );
            }
        }
        provider.base_url = url.clone();
    }
    if let Some(var) = &p.api_key_env {
        provider.api_key_env = env_name("profiles.api_key_env", var)?;
        provider.api_key = non_empty(env, &provider.api_key_env);
    }
    let prompt = match &p.prompt {
        None => None,
        Some(rel) => {
            let path = workspace.join(rel);
            if !path.is_file() {
                return Err(bad(format!(
                    "its prompt file `{rel}` does not exist in the workspace"
                )));
            }
            Some(path)
        }
    };
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    Ok(ProfileSpec {
        name: name.to_owned(),
        description: text(&p.description),
        provider,
        prompt,
        language: text(&p.language),
        tools: tool_rules(p.tools.as_ref()).map_err(bad)?,
    })
}

/// `[profiles.<name>.tools]` in the order written.
fn tool_rules(table: Option<&toml::Table>) -> Result<ToolGrants, String> {
    let Some(table) = table else {
        return Ok(ToolGrants::default());
    };
    let mut rules = Vec::new();
    for (pattern, value) in table {
        let ok_pattern = (1..=200).contains(&pattern.len())
            && pattern
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | '?'));
        if !ok_pattern {
            return Err(format!(
                "tool rule `{}`: a pattern is a tool name (`source.tool`) with `*` or `?` wildcards",
                pattern.chars().take(64).collect::<String>()
            ));
        }
        let policy = match value.as_str() {
            Some("allow") => ToolPolicy::Allow,
            Some("ask") => ToolPolicy::Ask,
            Some("deny") => ToolPolicy::Deny,
            _ => {
                return Err(format!(
                    "tool rule `{pattern}`: the value is \"allow\", \"ask\" or \"deny\""
                ))
            }
        };
        rules.push((pattern.clone(), policy));
    }
    Ok(ToolGrants::new(rules))
}

/// `[tools]`: the bounds of tool calls, each within a sane range.
fn tool_limits(file: &FileTools) -> Result<ToolLimits, ConfigError> {
    fn bounded(
        key: &'static str,
        value: Option<u64>,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if range.contains(&v) => Ok(v),
            Some(_) => Err(ConfigError::Value {
                key,
                why: format!("must be from {} to {}", range.start(), range.end()),
            }),
        }
    }
    let d = ToolLimits::default();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(ToolLimits {
        max_rounds: u32::try_from(bounded(
            "tools.max_rounds",
            file.max_rounds,
            1..=256,
            u64::from(d.max_rounds),
        )?)
        .unwrap_or(d.max_rounds),
        call_timeout: Duration::from_millis(bounded(
            "tools.call_timeout_ms",
            file.call_timeout_ms,
            100..=3_600_000,
            ms(d.call_timeout),
        )?),
        result_bytes: usize::try_from(bounded(
            "tools.result_bytes",
            file.result_bytes,
            1024..=16 * 1024 * 1024,
            d.result_bytes as u64,
        )?)
        .unwrap_or(d.result_bytes),
        approval_timeout: Duration::from_millis(bounded(
            "tools.approval_timeout_ms",
            file.approval_timeout_ms,
            1_000..=86_400_000,
            ms(d.approval_timeout),
        )?),
    })
}

/// Whether two base URLs share scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn provider_is_loopback(base_url: &str) -> bool {
    ProviderConfig {
        base_url: base_url.to_owned(),
        ..ProviderConfig::default()
    }
    .base_url_is_loopback()
}

/// The provider: `[provider]` of the file, overridden by the environment.
fn provider_config(
    file: FileProvider,
    env: &HashMap<String, String>,
) -> Result<ProviderConfig, ConfigError> {
    let kind = match file.kind.as_deref() {
        None => ProviderKind::default(),
        Some(name) => ProviderKind::parse(name).ok_or_else(|| ConfigError::Value {
            key: "provider.kind",
            why: format!(
                "`{}` is not a provider kind; this version knows {}",
                name.chars().take(40).collect::<String>(),
                ProviderKind::NAMES.join(", ")
            ),
        })?,
    };
    let base_url = non_empty(env, "OPENAI_BASE_URL")
        .or(file.base_url)
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(ConfigError::Value {
            key: "provider.base_url",
            why: "must start with http:// or https://".to_owned(),
        });
    }
    let api_key_env = env_name(
        "provider.api_key_env",
        file.api_key_env.as_deref().unwrap_or(DEFAULT_API_KEY_ENV),
    )?;
    let model = non_empty(env, "YOI_MODEL")
        .or(file.model)
        .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    if model.trim().is_empty() || model.len() > 200 {
        return Err(ConfigError::Value {
            key: "provider.model",
            why: "must be 1 to 200 characters".to_owned(),
        });
    }
    Ok(ProviderConfig {
        kind,
        api_key: non_empty(env, &api_key_env),
        api_key_env,
        base_url,
        model,
        first_token_timeout: timeout(
            "provider.first_token_timeout_ms",
            file.first_token_timeout_ms,
            non_empty(env, "YOI_FIRST_TOKEN_TIMEOUT_MS"),
            DEFAULT_FIRST_TOKEN_TIMEOUT,
        )?,
        run_timeout: timeout(
            "provider.run_timeout_ms",
            file.run_timeout_ms,
            non_empty(env, "YOI_RUN_TIMEOUT_MS"),
            DEFAULT_RUN_TIMEOUT,
        )?,
    })
}

fn runtime_entries(
    entries: &[FileRuntime],
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<Vec<RuntimeEntry>, ConfigError> {
    let mut out: Vec<RuntimeEntry> = Vec::new();
    let mut seen = vec![RuntimeId::backend_internal()];
    for rt in entries {
        let id = RuntimeId::parse(&rt.id).map_err(|e| ConfigError::Value {
            key: "runtimes.id",
            why: e.to_string(),
        })?;
        if seen.contains(&id) {
            return Err(ConfigError::Value {
                key: "runtimes.id",
                why: format!("runtime `{id}` is named twice (or takes the backend's own id)"),
            });
        }
        seen.push(id.clone());
        let display_name = runtime_display_name(rt, &id)?;
        let entry = match rt.kind.as_str() {
            "remote" => remote_entry(rt, id, display_name, workspace, env)?,
            "local" => local_entry(rt, id, display_name)?,
            other => {
                return Err(ConfigError::Value {
                    key: "runtimes.kind",
                    why: format!(
                        "runtime `{id}` has kind `{}`; expected \"remote\" or \"local\"",
                        other.chars().take(20).collect::<String>()
                    ),
                })
            }
        };
        out.push(entry);
    }
    Ok(out)
}

fn runtime_display_name(rt: &FileRuntime, id: &RuntimeId) -> Result<String, ConfigError> {
    match rt.display_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && name.chars().count() <= 64 => Ok(name.to_owned()),
        Some(_) => Err(ConfigError::Value {
            key: "runtimes.display_name",
            why: format!("runtime `{id}`: must be 1 to 64 characters"),
        }),
        None => Ok(id.to_string()),
    }
}

/// A bearer token must be long enough not to be guessed; the message names
/// the variable, never the value.
fn long_enough(token: &str, var: &str) -> Result<(), ConfigError> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(ConfigError::Value {
            key: "token",
            why: format!("the token in {var} is shorter than {MIN_TOKEN_LEN} characters"),
        });
    }
    Ok(())
}

/// `kind = "remote"`: its URL, and its token from the variable `token_env` names.
fn remote_entry(
    rt: &FileRuntime,
    id: RuntimeId,
    display_name: String,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<RuntimeEntry, ConfigError> {
    let raw = rt.url.as_deref().ok_or_else(|| ConfigError::Value {
        key: "runtimes.url",
        why: format!("remote runtime `{id}` needs a url such as http://gpu-box:7761"),
    })?;
    // The URL is not repeated in messages: it may be private.
    let url = Url::parse(raw)
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none()
        })
        .ok_or_else(|| ConfigError::Value {
            key: "runtimes.url",
            why: format!(
                "the url of runtime `{id}` must be http:// or https://, host and port, with no user, query or fragment"
            ),
        })?;
    let token_env = env_name(
        "runtimes.token_env",
        rt.token_env.as_deref().unwrap_or(DEFAULT_RUNTIME_TOKEN_ENV),
    )?;
    let token = non_empty(env, &token_env).ok_or_else(|| ConfigError::Value {
        key: "runtimes.token_env",
        why: format!("remote runtime `{id}`: set {token_env} to the runtime's token"),
    })?;
    long_enough(&token, &token_env)?;
    plain_http_allowed(rt, &id, &url)?;
    let ca = private_ca(rt, &id, &url, workspace)?;
    Ok(RuntimeEntry::Remote {
        id,
        display_name,
        url,
        token,
        ca,
    })
}

/// The token must not cross a network in the clear: `http://` only to a
/// loopback host, unless the entry says `allow_insecure = true`.
fn plain_http_allowed(rt: &FileRuntime, id: &RuntimeId, url: &Url) -> Result<(), ConfigError> {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback && rt.allow_insecure != Some(true) {
        return Err(ConfigError::Value {
            key: "runtimes.allow_insecure",
            why: format!(
                "runtime `{id}` would get its token over plain http:// across the network: serve it with --tls-cert/--tls-key and use https:// (ca_file for a private CA), or set allow_insecure = true"
            ),
        });
    }
    Ok(())
}

/// `ca_file`, read and checked now: only with `https://`.
fn private_ca(
    rt: &FileRuntime,
    id: &RuntimeId,
    url: &Url,
    workspace: &Path,
) -> Result<Option<std::sync::Arc<[u8]>>, ConfigError> {
    let Some(file) = &rt.ca_file else {
        return Ok(None);
    };
    let bad = |why: &str| ConfigError::Value {
        key: "runtimes.ca_file",
        why: format!("runtime `{id}`: {why}"),
    };
    if url.scheme() != "https" {
        return Err(bad("a CA file needs an https:// url"));
    }
    let pem = std::fs::read(workspace.join(file)).map_err(|_| bad("the CA file cannot be read"))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("the CA file holds no PEM certificate"));
    }
    Ok(Some(pem.into()))
}

/// `kind = "local"`: nothing to reach, the backend starts it.
fn local_entry(
    rt: &FileRuntime,
    id: RuntimeId,
    display_name: String,
) -> Result<RuntimeEntry, ConfigError> {
    if rt.url.is_some()
        || rt.token_env.is_some()
        || rt.allow_insecure.is_some()
        || rt.ca_file.is_some()
    {
        return Err(ConfigError::Value {
            key: "runtimes",
            why: format!(
                "local runtime `{id}` takes no url, token_env, allow_insecure or ca_file: the backend starts it on a private Unix socket"
            ),
        });
    }
    Ok(RuntimeEntry::Local { id, display_name })
}

/// Where `yoi runtime serve` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Flags of `yoi runtime serve`.
#[derive(Debug, Default)]
pub struct RuntimeFlags {
    pub bind: Option<String>,
    pub unix: Option<PathBuf>,
    pub token_env: Option<String>,
    pub runtime_id: Option<String>,
    pub state_dir: Option<PathBuf>,
    /// A `yoi.toml` whose `[provider]`, `language` and `[profiles]` it uses.
    pub config: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// Everything `yoi runtime serve` runs with.
pub struct RuntimeServeConfig {
    pub listen: Listen,
    /// Required on TCP; a Unix socket is guarded by its permissions instead.
    pub token: Option<String>,
    pub runtime: RuntimeConfig,
    pub limits: Limits,
    /// TLS on TCP, from `--tls-cert` and `--tls-key`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `[mcp.<name>]` of `--config`, checked.
    pub mcp: crate::mcp_config::McpServers,
}

impl std::fmt::Debug for RuntimeServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs and panics (the provider masks its key).
        f.debug_struct("RuntimeServeConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("runtime", &self.runtime)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// `yoi runtime serve`: the flags, the provider from the environment, and
/// with `--config` the provider, language and profiles of that file (its
/// other keys are the backend's and ignored here). The workspace is the
/// current directory (its name, `prompts/`, and profiles' prompt files).
pub fn load_runtime(
    flags: &RuntimeFlags,
    env: &HashMap<String, String>,
) -> Result<RuntimeServeConfig, ConfigError> {
    let workspace = std::env::current_dir().map_err(|_| ConfigError::NoWorkspace)?;
    let file = match &flags.config {
        Some(path) => read_file(&workspace, Some(path))?.0,
        None => FileConfig::default(),
    };
    resolve_runtime(&workspace, flags, file, env)
}

pub fn resolve_runtime(
    workspace: &Path,
    flags: &RuntimeFlags,
    file: FileConfig,
    env: &HashMap<String, String>,
) -> Result<RuntimeServeConfig, ConfigError> {
    let listen = match (&flags.bind, &flags.unix) {
        (Some(bind), None) => Listen::Tcp(parse_bind(bind)?),
        (None, Some(path)) => Listen::Unix(path.clone()),
        _ => {
            return Err(ConfigError::Value {
                key: "listen",
                why: "give exactly one of --bind ADDR or --unix PATH".to_owned(),
            })
        }
    };
    let token_env = env_name(
        "token_env",
        flags
            .token_env
            .as_deref()
            .unwrap_or(DEFAULT_RUNTIME_TOKEN_ENV),
    )?;
    let token = match listen {
        Listen::Tcp(_) => {
            let token = non_empty(env, &token_env)
                .ok_or(ConfigError::RuntimeTokenRequired(token_env.clone()))?;
            long_enough(&token, &token_env)?;
            Some(token)
        }
        Listen::Unix(_) => None,
    };
    let runtime_id = RuntimeId::parse(flags.runtime_id.as_deref().unwrap_or(DEFAULT_RUNTIME_ID))
        .map_err(|e| ConfigError::Value {
            key: "runtime_id",
            why: e.to_string(),
        })?;
    let mut runtime = RuntimeConfig::new(runtime_id.clone(), runtime_id.as_str());
    // A runtime on a Unix socket is a backend's local child; on TCP a remote one.
    runtime.kind = match listen {
        Listen::Tcp(_) => RuntimeKind::Remote,
        Listen::Unix(_) => RuntimeKind::Local,
    };
    let provider = provider_config(file.provider, env)?;
    runtime.profiles = profile_specs(&file.profiles, &provider, workspace, env)?;
    runtime.provider = provider;
    if let Some(lang) = file.language.filter(|l| !l.trim().is_empty()) {
        runtime.language = lang;
    }
    runtime.queue_limit = queue_limit(file.queue_limit, env)?;
    runtime.workspace_name = workspace_name(workspace);
    runtime.prompts_dir = Some(workspace.join("prompts"));
    runtime.state_dir = flags.state_dir.clone();
    let limits = crate::limits::resolve(&FileLimits::default(), env)?;
    runtime.limits = limits.runtime;
    runtime.tool_limits = tool_limits(&file.tools)?;
    let tls = tls_config(flags, &listen)?;
    let mcp = crate::mcp_config::servers(&file.mcp, workspace, env)?;
    Ok(RuntimeServeConfig {
        listen,
        token,
        runtime,
        limits,
        tls,
        mcp,
    })
}

/// `--tls-cert` and `--tls-key`, read and checked: both or neither, on TCP.
fn tls_config(
    flags: &RuntimeFlags,
    listen: &Listen,
) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
    let bad = |why: String| ConfigError::Value { key: "tls", why };
    let (cert, key) = match (&flags.tls_cert, &flags.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err(bad("give both --tls-cert and --tls-key".to_owned())),
    };
    if matches!(listen, Listen::Unix(_)) {
        return Err(bad(
            "TLS is for TCP (--bind); a Unix socket is guarded by its permissions".to_owned(),
        ));
    }
    let cert = std::fs::read(cert).map_err(|e| bad(format!("cannot read --tls-cert: {e}")))?;
    let key = std::fs::read(key).map_err(|e| bad(format!("cannot read --tls-key: {e}")))?;
    yoi_runtime_server::tls::server_config(&cert, &key)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

fn workspace_name(workspace: &Path) -> String {
    workspace
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workspace".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    fn ws() -> PathBuf {
        std::env::temp_dir()
    }

    #[test]
    fn queue_limit_defaults_to_8_and_is_read_from_file_and_environment() {
        let c = resolve(
            &ws(),
            FileConfig::default(),
            &ServeFlags::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.runtime.queue_limit, 8);
        let c = resolve(
            &ws(),
            file("queue_limit = 3"),
            &ServeFlags::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.runtime.queue_limit, 3);
        let c = resolve(
            &ws(),
            file("queue_limit = 3"),
            &ServeFlags::default(),
            &env(&[("YOI_QUEUE_LIMIT", "5")]),
        )
        .unwrap();
        assert_eq!(c.runtime.queue_limit, 5);
        for bad in ["queue_limit = 0", "queue_limit = 257"] {
            let e = resolve(&ws(), file(bad), &ServeFlags::default(), &env(&[])).unwrap_err();
            assert!(e.to_string().starts_with("queue_limit:"), "{e}");
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = resolve(
            &ws(),
            FileConfig::default(),
            &ServeFlags::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:7760");
        assert_eq!(c.runtime.provider.base_url, "https://api.openai.com/v1");
        assert_eq!(c.runtime.provider.api_key_env, "OPENAI_API_KEY");
        assert_eq!(
            c.runtime.provider.first_token_timeout,
            Duration::from_millis(60_000)
        );
        assert_eq!(
            c.runtime.provider.run_timeout,
            Duration::from_millis(600_000)
        );
        assert!(c.runtime.provider.api_key.is_none());
        assert!(c.token.is_none());
    }

    #[test]
    fn environment_overrides_the_file_and_flags_override_both() {
        let f = file(
            r#"
            bind = "127.0.0.1:9000"
            [provider]
            base_url = "http://127.0.0.1:11434/v1"
            model = "file-model"
            api_key_env = "MY_KEY"
            first_token_timeout_ms = 1000
            "#,
        );
        let e = env(&[
            ("YOI_MODEL", "env-model"),
            ("MY_KEY", "k-123"),
            ("OPENAI_API_KEY", "ignored"),
            ("YOI_BIND", "127.0.0.1:9100"),
            ("YOI_RUN_TIMEOUT_MS", "5000"),
        ]);
        let flags = ServeFlags {
            bind: Some("127.0.0.1:9200".into()),
            ..ServeFlags::default()
        };
        let c = resolve(&ws(), f, &flags, &e).unwrap();
        assert_eq!(c.bind.port(), 9200);
        assert_eq!(c.runtime.provider.model, "env-model");
        assert_eq!(c.runtime.provider.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.runtime.provider.api_key.as_deref(), Some("k-123"));
        assert_eq!(
            c.runtime.provider.first_token_timeout,
            Duration::from_millis(1000)
        );
        assert_eq!(c.runtime.provider.run_timeout, Duration::from_millis(5000));
    }

    #[test]
    fn a_public_bind_needs_a_token() {
        let flags = ServeFlags {
            bind: Some("0.0.0.0:7760".into()),
            ..ServeFlags::default()
        };
        let err = resolve(&ws(), FileConfig::default(), &flags, &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::TokenRequired(..)));
        assert!(err.to_string().contains("YOI_TOKEN"));
        let c = resolve(
            &ws(),
            FileConfig::default(),
            &flags,
            &env(&[("YOI_TOKEN", "long-enough-token")]),
        )
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("long-enough-token"));
    }

    #[test]
    fn bad_values_are_named() {
        let cases: Vec<(FileConfig, HashMap<String, String>, &str)> = vec![
            (
                FileConfig::default(),
                env(&[("YOI_BIND", "nonsense")]),
                "bind",
            ),
            (
                FileConfig::default(),
                env(&[("OPENAI_BASE_URL", "ftp://x")]),
                "provider.base_url",
            ),
            (
                FileConfig::default(),
                env(&[("YOI_FIRST_TOKEN_TIMEOUT_MS", "soon")]),
                "provider.first_token_timeout_ms",
            ),
            (
                FileConfig::default(),
                env(&[("YOI_RUN_TIMEOUT_MS", "0")]),
                "provider.run_timeout_ms",
            ),
            (file("token_env = \"not a name\""), env(&[]), "token_env"),
            (
                file("[[runtimes]]\nid = \"gpu\"\nkind = \"remote\""),
                env(&[]),
                "runtimes",
            ),
        ];
        for (f, e, key) in cases {
            let err = resolve(&ws(), f, &ServeFlags::default(), &e).unwrap_err();
            assert!(err.to_string().starts_with(key), "{key}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<FileConfig>("bnid = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("[provider]\nmodle = \"x\"").is_err());
        let err = resolve(
            &ws(),
            file("[profiles.fast]\nmodle = \"x\""),
            &ServeFlags::default(),
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("fast") && err.contains("modle"), "{err}");
    }

    #[test]
    fn profiles_inherit_the_provider_and_take_their_own_keys() {
        let dir = std::env::temp_dir().join(format!("yoi-config-profiles-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::fs::write(dir.join("prompts/terse.md"), "Terse.").unwrap();
        let text = r#"
[provider]
model = "base-model"
[profiles.local]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
description = "On this machine"
[profiles.hosted]
api_key_env = "HOSTED_KEY"
prompt = "prompts/terse.md"
language = "German"
"#;
        let vars = env(&[("OPENAI_API_KEY", "sk-base"), ("HOSTED_KEY", "sk-hosted")]);
        let c = resolve(&dir, file(text), &ServeFlags::default(), &vars).unwrap();
        let p = &c.runtime.profiles;
        assert_eq!(p.len(), 2);
        let (hosted, local) = (&p[0], &p[1]);
        assert_eq!(hosted.name, "hosted");
        assert_eq!(hosted.provider.model, "base-model");
        assert_eq!(hosted.provider.base_url, DEFAULT_BASE_URL);
        assert_eq!(hosted.provider.api_key.as_deref(), Some("sk-hosted"));
        assert_eq!(
            hosted.prompt.as_deref(),
            Some(dir.join("prompts/terse.md").as_path())
        );
        assert_eq!(hosted.language.as_deref(), Some("German"));
        assert_eq!(local.provider.model, "llama3.2");
        assert_eq!(
            local.provider.api_key, None,
            "another host: not [provider]'s key"
        );
        assert_eq!(local.description.as_deref(), Some("On this machine"));
        assert!(local.prompt.is_none(), "the Companion's prompt");

        let missing = "[profiles.poet]\nprompt = \"prompts/gone.md\"";
        let err = resolve(&dir, file(missing), &ServeFlags::default(), &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("poet") && err.contains("prompts/gone.md"),
            "{err}"
        );
        let bad_name = "[profiles.\"Big One\"]\nmodel = \"m\"";
        assert!(resolve(&dir, file(bad_name), &ServeFlags::default(), &vars).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_profile_gets_the_providers_key_only_on_the_providers_origin() {
        let text = r#"
[provider]
base_url = "https://llm.example.com/v1"
[profiles.same]
base_url = "https://llm.example.com:443/other/v1"
[profiles.elsewhere]
base_url = "https://other.example.net/v1"
[profiles.own]
base_url = "https://other.example.net/v1"
api_key_env = "OWN_KEY"
[profiles.port]
base_url = "https://llm.example.com:8443/v1"
"#;
        let vars = env(&[("OPENAI_API_KEY", "sk-base"), ("OWN_KEY", "sk-own")]);
        let c = resolve(&ws(), file(text), &ServeFlags::default(), &vars).unwrap();
        let key = |name: &str| {
            c.runtime
                .profiles
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .provider
                .api_key
                .clone()
        };
        assert_eq!(key("same").as_deref(), Some("sk-base"));
        assert_eq!(key("elsewhere"), None);
        let elsewhere = &c.runtime.profiles.iter().find(|p| p.name == "elsewhere");
        let hint = elsewhere.unwrap().provider.check_configured().unwrap_err();
        assert!(
            hint.contains("api_key_env") && !hint.contains("OPENAI_API_KEY"),
            "{hint}"
        );
        assert_eq!(key("port"), None);
        assert_eq!(key("own").as_deref(), Some("sk-own"));
    }

    #[test]
    fn debug_never_prints_a_token_or_key() {
        let vars = env(&[
            ("OPENAI_API_KEY", "sk-base-never-printed"),
            ("YOI_TOKEN", "serve-token-never-printed"),
            ("YOI_RUNTIME_TOKEN", "runtime-token-never-printed"),
        ]);
        let serve = resolve(&ws(), file(""), &ServeFlags::default(), &vars).unwrap();
        let flags = RuntimeFlags {
            bind: Some("127.0.0.1:0".into()),
            ..RuntimeFlags::default()
        };
        let runtime = resolve_runtime(&ws(), &flags, file(""), &vars).unwrap();
        for shown in [format!("{serve:?}"), format!("{runtime:?}")] {
            assert!(!shown.contains("never-printed"), "{shown}");
            assert!(shown.contains("<set>"), "{shown}");
        }
    }

    const RUNTIMES: &str = r#"
        [[runtimes]]
        id = "gpu"
        kind = "remote"
        url = "http://10.0.0.5:7761"
        token_env = "GPU_TOKEN"
        allow_insecure = true

        [[runtimes]]
        id = "near"
        kind = "local"
        display_name = "This machine"
    "#;

    #[test]
    fn runtimes_are_read_with_their_tokens_from_the_environment() {
        let c = resolve(
            &ws(),
            file(RUNTIMES),
            &ServeFlags::default(),
            &env(&[("GPU_TOKEN", "gpu-token-1234567")]),
        )
        .unwrap();
        assert_eq!(c.runtimes.len(), 2);
        match &c.runtimes[0] {
            RuntimeEntry::Remote {
                id,
                display_name,
                url,
                token,
                ca,
            } => {
                assert!(ca.is_none());
                assert_eq!(id.as_str(), "gpu");
                assert_eq!(display_name, "gpu");
                assert_eq!(url.as_str(), "http://10.0.0.5:7761/");
                assert_eq!(token, "gpu-token-1234567");
            }
            other => panic!("unexpected {other:?}"),
        }
        match &c.runtimes[1] {
            RuntimeEntry::Local { id, display_name } => {
                assert_eq!(id.as_str(), "near");
                assert_eq!(display_name, "This machine");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Neither the URL nor the token shows when the configuration is printed.
        let printed = format!("{c:?}");
        assert!(!printed.contains("10.0.0.5") && !printed.contains("gpu-token-1234567"));
    }

    /// A `yoi.toml`, its environment, and the key its error must name.
    type BadCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn bad_runtimes_are_named_without_repeating_their_url() {
        let cases: Vec<BadCase> = vec![
            (RUNTIMES, &[], "runtimes.token_env"),
            (
                "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"",
                &[],
                "runtimes.url",
            ),
            (
                "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"ftp://secret-host:1\"",
                &[("YOI_RUNTIME_TOKEN", "t-12345678")],
                "runtimes.url",
            ),
            (
                "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"http://me:pw@secret-host:1\"",
                &[("YOI_RUNTIME_TOKEN", "t-12345678")],
                "runtimes.url",
            ),
            (
                "[[runtimes]]\nid = \"near\"\nkind = \"local\"\nurl = \"http://secret-host:1\"",
                &[],
                "runtimes",
            ),
            ("[[runtimes]]\nid = \"x\"\nkind = \"cloud\"", &[], "runtimes.kind"),
            ("[[runtimes]]\nid = \"Bad Id\"\nkind = \"local\"", &[], "runtimes.id"),
            (
                "[[runtimes]]\nid = \"backend-internal\"\nkind = \"local\"",
                &[],
                "runtimes.id",
            ),
            (
                "[[runtimes]]\nid = \"a\"\nkind = \"local\"\n[[runtimes]]\nid = \"a\"\nkind = \"local\"",
                &[],
                "runtimes.id",
            ),
        ];
        for (text, vars, key) in cases {
            let err = resolve(&ws(), file(text), &ServeFlags::default(), &env(vars)).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with(key), "{key}: {message}");
            assert!(!message.contains("secret-host"), "{message}");
        }
    }

    #[test]
    fn tokens_shorter_than_16_characters_are_refused_naming_the_variable() {
        let short = "fifteen-chars-x";
        let long = "sixteen-chars-xy";
        assert_eq!((short.len(), long.len()), (15, 16));
        let public = ServeFlags {
            bind: Some("0.0.0.0:7760".into()),
            ..ServeFlags::default()
        };
        let serve = |token: &str| {
            resolve(
                &ws(),
                FileConfig::default(),
                &public,
                &env(&[("YOI_TOKEN", token)]),
            )
        };
        let err = serve(short).unwrap_err().to_string();
        assert!(
            err.starts_with("token") && err.contains("YOI_TOKEN"),
            "{err}"
        );
        assert!(!err.contains(short), "{err}");
        assert!(serve(long).is_ok());

        let tcp = RuntimeFlags {
            bind: Some("0.0.0.0:7761".into()),
            ..RuntimeFlags::default()
        };
        let runtime = |token: &str| {
            resolve_runtime(
                &ws(),
                &tcp,
                FileConfig::default(),
                &env(&[("YOI_RUNTIME_TOKEN", token)]),
            )
        };
        let err = runtime(short).unwrap_err().to_string();
        assert!(
            err.contains("YOI_RUNTIME_TOKEN") && !err.contains(short),
            "{err}"
        );
        assert!(runtime(long).is_ok());

        let remote = |token: &str| {
            resolve(
                &ws(),
                file(RUNTIMES),
                &ServeFlags::default(),
                &env(&[("GPU_TOKEN", token)]),
            )
        };
        let err = remote(short).unwrap_err().to_string();
        assert!(err.contains("GPU_TOKEN") && !err.contains(short), "{err}");
        assert!(remote(long).is_ok());
    }

    #[test]
    fn plain_http_to_another_host_needs_allow_insecure() {
        let remote = |url: &str, extra: &str| {
            let text = format!(
                "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{url}\"\ntoken_env = \"GPU_TOKEN\"\n{extra}"
            );
            resolve(
                &ws(),
                file(&text),
                &ServeFlags::default(),
                &env(&[("GPU_TOKEN", "gpu-token-1234567")]),
            )
        };
        let err = remote("http://10.0.0.5:7761", "").unwrap_err().to_string();
        assert!(err.starts_with("runtimes.allow_insecure"), "{err}");
        assert!(!err.contains("10.0.0.5"), "{err}");
        assert!(remote("http://10.0.0.5:7761", "allow_insecure = true").is_ok());
        for loopback in [
            "http://127.0.0.1:7761",
            "http://localhost:7761",
            "http://[::1]:7761",
        ] {
            assert!(remote(loopback, "").is_ok(), "{loopback}");
        }
        assert!(remote("https://gpu.example:7761", "").is_ok());
        // A private CA: only with https, and it must be a PEM certificate.
        let dir = std::env::temp_dir().join(format!("yoi-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.join("ca.pem"), pem).unwrap();
        std::fs::write(dir.join("junk.pem"), "junk").unwrap();
        let ca = |url: &str, name: &str| {
            let text = format!(
                "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{url}\"\ntoken_env = \"GPU_TOKEN\"\nca_file = \"{name}\""
            );
            resolve(
                &dir,
                file(&text),
                &ServeFlags::default(),
                &env(&[("GPU_TOKEN", "gpu-token-1234567")]),
            )
        };
        match ca("https://gpu.example:7761", "ca.pem")
            .unwrap()
            .runtimes
            .remove(0)
        {
            RuntimeEntry::Remote { ca, .. } => assert_eq!(ca.as_deref(), Some(pem.as_bytes())),
            other => panic!("unexpected {other:?}"),
        }
        for (url, name) in [
            ("http://127.0.0.1:7761", "ca.pem"),
            ("https://gpu.example:7761", "junk.pem"),
            ("https://gpu.example:7761", "missing.pem"),
        ] {
            let err = ca(url, name).unwrap_err().to_string();
            assert!(err.starts_with("runtimes.ca_file"), "{err}");
            assert!(!err.contains(&*dir.to_string_lossy()), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_runtime_on_tcp_needs_a_token_and_a_unix_socket_does_not() {
        let tcp = RuntimeFlags {
            bind: Some("0.0.0.0:7761".into()),
            ..RuntimeFlags::default()
        };
        let err = resolve_runtime(&ws(), &tcp, FileConfig::default(), &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::RuntimeTokenRequired(_)));
        assert!(err.to_string().contains("YOI_RUNTIME_TOKEN"));
        let err = resolve_runtime(
            &ws(),
            &tcp,
            FileConfig::default(),
            &env(&[("YOI_RUNTIME_TOKEN", "short")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("token"));
        let c = resolve_runtime(
            &ws(),
            &RuntimeFlags {
                token_env: Some("GPU_TOKEN".into()),
                runtime_id: Some("gpu".into()),
                ..tcp
            },
            FileConfig::default(),
            &env(&[
                ("GPU_TOKEN", "gpu-token-1234567"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
                ("YOI_MODEL", "llama"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, Listen::Tcp("0.0.0.0:7761".parse().unwrap()));
        assert_eq!(c.token.as_deref(), Some("gpu-token-1234567"));
        assert_eq!(c.runtime.runtime_id.as_str(), "gpu");
        assert_eq!(c.runtime.provider.model, "llama");
        assert_eq!(c.runtime.provider.base_url, "http://127.0.0.1:11434/v1");

        let unix = RuntimeFlags {
            unix: Some("/run/yoi/rt.sock".into()),
            ..RuntimeFlags::default()
        };
        let c = resolve_runtime(
            &ws(),
            &unix,
            FileConfig::default(),
            &env(&[("YOI_RUNTIME_TOKEN", "ignored-here")]),
        )
        .unwrap();
        assert_eq!(c.listen, Listen::Unix("/run/yoi/rt.sock".into()));
        assert!(c.token.is_none());
        assert_eq!(c.runtime.runtime_id.as_str(), DEFAULT_RUNTIME_ID);

        let neither = resolve_runtime(
            &ws(),
            &RuntimeFlags::default(),
            FileConfig::default(),
            &env(&[]),
        )
        .unwrap_err();
        assert!(neither.to_string().starts_with("listen"));
    }
}
